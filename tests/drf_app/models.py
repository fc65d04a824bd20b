from django.conf import settings
from django.db import models


def next_version() -> int:
    """One more than the highest version so far: every change gets a newer one."""
    highest = Todo.objects.aggregate(highest=models.Max("version"))["highest"]
    return (highest or 0) + 1


class Todo(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="todos"
    )
    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    #: Grows with every save: what long-polling clients wait past.
    version = models.PositiveBigIntegerField(default=0, db_index=True, editable=False)

    def save(self, *args, **kwargs):
        self.version = next_version()
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.title


class ApiToken(models.Model):
    """A bearer token (``Authorization: Token <key>``) without rest_framework.authtoken."""

    key = models.CharField(max_length=40, primary_key=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")

    def __str__(self) -> str:
        return f"token of {self.user}"
