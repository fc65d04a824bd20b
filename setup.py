from pathlib import Path

from setuptools import find_packages, setup

# DRF 3.16 is the first release for Django 5.2; 3.17 adds Django 6.0, 3.18 adds 6.1.
DRF = "djangorestframework>=3.16"
# Optional history stores (grip_views.history): Redis with redis-py, PostgreSQL with psycopg 3.
REDIS = "redis>=5"
POSTGRES = "psycopg[binary]>=3.1"
# Publishing to Pushpin over ZeroMQ (grip_views.zmq).
ZMQ = "pyzmq>=26"
# Live HTML (grip_views.htmx): django-htmx ships htmx 2 and its SSE and WebSocket
# extensions as static files (1.29 is the first with the hx-sse/hx-ws extensions used here).
HTMX = "django-htmx>=1.29"
# What the test suite needs (runtests.sh installs it with the pins).
TEST = [
    DRF,
    REDIS,
    POSTGRES,
    ZMQ,
    HTMX,
    "pytest>=8",
    "pytest-django>=4.9",
    "pytest-xdist>=3.5",
    "websocket-client>=1.7",
    "websockets>=13",
    "requests>=2.31",
    "hypothesis>=6.100",
    "selenium>=4.20",
    "uvicorn>=0.30",
    "aiohttp>=3.9",
]
# Lint and type checks (run once, on the newest Python/Django pair).
LINT = [
    "ruff>=0.6",
    "mypy>=1.10",
    "django-stubs>=5.2",
]

setup(
    name="grip-views",
    version="0.2.0",
    description=(
        "Realtime Django class-based views (streams, SSE, long-polling, WebSockets) "
        "behind a GRIP proxy such as Pushpin or Fastly Fanout."
    ),
    long_description=Path(__file__).with_name("README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="MIT",
    packages=find_packages(include=["grip_views", "grip_views.*"]),
    package_data={"grip_views": ["py.typed", "static/grip_views/*.js"]},
    python_requires=">=3.10",
    install_requires=[
        "Django>=5.2,<6.2",
        "gripcontrol>=4.4,<5",
        "pubcontrol>=3.5,<4",
        "PyJWT>=2.8",
        # ES256/RS256 Grip-Sig (Fastly Fanout): without it PyJWT cannot verify them.
        "cryptography>=41",
    ],
    # Compatible ranges here; the exact versions CI runs with are pinned in
    # requirements/constraints.txt (Django per series in requirements/django*.txt).
    extras_require={
        "drf": [DRF],
        "redis": [REDIS],
        "postgres": [POSTGRES],
        "zmq": [ZMQ],
        "htmx": [HTMX],
        "test": TEST,
        "lint": LINT,
        "dev": TEST + LINT,
    },
    entry_points={"pytest11": ["grip_views = grip_views.testing.pytest_plugin"]},
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Framework :: Django :: 6.1",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    ],
)
