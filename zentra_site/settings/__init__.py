"""Settings, split by concern. `env` is the only module that reads os.environ."""
from .core import *  # noqa: F401,F403
from .tenancy import *  # noqa: F401,F403
from .api import *  # noqa: F401,F403
from .tasks import *  # noqa: F401,F403
from .webhooks import *  # noqa: F401,F403
from .logging import *  # noqa: F401,F403
from .security import *  # noqa: F401,F403
from .reconciliation import *  # noqa: F401,F403
from .inbound import *  # noqa: F401,F403
