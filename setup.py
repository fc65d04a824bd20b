from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="grip-views",
    version="0.1.0",
    description="Realtime Django class-based views (streams, SSE, long-polling, WebSockets) behind a GRIP proxy such as Pushpin or Fastly Fanout.",
    long_description=Path(__file__).with_name("README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="MIT",
    packages=find_packages(include=["grip_views", "grip_views.*"]),
    package_data={"grip_views": ["py.typed"]},
    python_requires=">=3.10",
    install_requires=[
        "Django>=4.2,<6.0",
        "gripcontrol>=4.4,<5",
        "pubcontrol>=3.5,<4",
        "PyJWT>=2.8",
        # ES256/RS256 Grip-Sig (Fastly Fanout): without it PyJWT cannot verify them.
        "cryptography>=41",
    ],
    extras_require={
        "drf": ["djangorestframework>=3.14"],
        "dev": [
            "djangorestframework>=3.14",
            "pytest>=8",
            "pytest-django>=4.8",
            "pytest-xdist>=3.5",
            "websocket-client>=1.7",
            "requests>=2.31",
            "hypothesis>=6.100",
            "selenium>=4.20",
            "uvicorn>=0.30",
            "aiohttp>=3.9",
            "ruff>=0.6",
            "mypy>=1.10",
            "django-stubs>=5.0",
        ],
    },
    entry_points={"pytest11": ["grip_views = grip_views.testing.pytest_plugin"]},
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 4.2",
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
    ],
)
