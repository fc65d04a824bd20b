from django.conf import settings
from django.db import models

from grip_views.htmx import BroadcastChangesMixin


class Todo(BroadcastChangesMixin, models.Model):
    """A todo; every create, update and delete is swapped into open /todos/ pages
    (templates/demo_api/todo_grip.html), after its transaction commits."""

    broadcast_stream = "todos"
    broadcast_target = "#todo-list"

    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: Grows with every save: long-polling clients pass the last one they saw.
    version = models.PositiveBigIntegerField(default=0, db_index=True, editable=False)

    class Meta:
        ordering = ["id"]

    def save(self, *args, **kwargs):
        highest = Todo.objects.aggregate(highest=models.Max("version"))["highest"] or 0
        self.version = highest + 1
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.title
