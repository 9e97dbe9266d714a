from tests.gateway.conftest import gateway  # noqa: F401  (the same served gateway fixture)
