"""The live todo list: plain Django views; the model publishes every change
(demo_api.models.Todo is a BroadcastChangesMixin) and htmx swaps it into every open page."""

from demo_api.models import Todo
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from .forms import field_error


class TodoPage(TemplateView):
    template_name = "demo/todos.html"

    def get_context_data(self, **kwargs):
        # A queryset, read only when the template reaches the list: after
        # {% grip_stream %} noted the stream's last id, so no change falls between.
        return {**super().get_context_data(**kwargs), "todos": Todo.objects.all()}


@require_POST
def create(request):
    """Add a todo; answers with an empty form (the list gets the todo through the stream)."""
    if error := field_error(request, "title"):
        return error
    author = request.user if request.user.is_authenticated else None
    Todo.objects.create(title=request.POST["title"][:200], author=author)
    return render(request, "demo/todo_form.html")


@require_POST
def toggle(request, pk):
    todo = get_object_or_404(Todo, pk=pk)
    todo.done = not todo.done
    todo.save()
    return HttpResponse(status=204)


@require_POST
def delete(request, pk):
    get_object_or_404(Todo, pk=pk).delete()
    return HttpResponse(status=204)
