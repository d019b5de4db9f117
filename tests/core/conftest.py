
from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins()

