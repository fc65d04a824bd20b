"""A small DRF API used by the tests of grip_views.rest_framework."""
