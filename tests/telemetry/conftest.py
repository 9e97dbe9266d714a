from tests.gateway.conftest import gateway  # noqa: F401  (the same served gateway fixture)
from tests.web.conftest import artifacts_dir  # noqa: F401  (test-artifacts/)
