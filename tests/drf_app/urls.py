"""The DRF test API under ``/api/``; empty when DRF is not installed, so the
rest of the suite still runs without it."""

from django.urls import path

try:
    from rest_framework.routers import SimpleRouter
except ImportError:  # pragma: no cover - the no-DRF run of the suite
    urlpatterns: list = []
else:
    from . import views

    router = SimpleRouter()
    router.register("todos", views.TodoViewSet)
    router.register("durable-todos", views.DurableTodoViewSet, basename="durable-todo")
    router.register("racing-todos", views.RacingTodoViewSet, basename="racing-todo")

    urlpatterns = [
        *router.urls,
        path("own/<int:pk>/", views.OwnTodoStream.as_view()),
        path("forgetful/", views.ForgetfulTodoList.as_view()),
        path("throttled/", views.ThrottledTodoList.as_view()),
        path("forbidden/", views.ForbiddenTodoList.as_view()),
        path("paged/", views.PagedTodoList.as_view()),
        path("feed/", views.Feed.as_view()),
        path("inbox/", views.Inbox.as_view()),
        path("ws/todos/", views.TodoSocket.as_view()),
        path("ws/durable-todos/", views.DurableTodoSocket.as_view()),
    ]
