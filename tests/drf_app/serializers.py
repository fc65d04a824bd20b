from rest_framework import serializers

from .models import Todo


class TodoSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Todo
        fields = ["id", "title", "done", "owner", "version"]
        read_only_fields = ["version"]
