from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("todos", views.TodoViewSet)

urlpatterns = router.urls
