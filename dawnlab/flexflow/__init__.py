"""FlexFlow: SOAP parallelization strategies, an execution simulator, MCMC search.

Implements "Beyond Data and Model Parallelism for Deep Neural Networks"
(Jia, Zaharia, Aiken; arXiv 1807.05358): operator graphs (Section 3), the SOAP
search space (Section 4), the execution simulator with full and delta simulation
(Section 5) and the MCMC execution optimizer (Section 6).

Modules, one concept each:

- :mod:`~dawnlab.flexflow.graph` - operator graphs and a builder with shape inference (Section 3)
- :mod:`~dawnlab.flexflow.trace` - operator graphs from any ``torch.nn.Module`` via ``torch.fx``
- :mod:`~dawnlab.flexflow.benchmarks` - the paper's six benchmarks and a transformer stack (Section 8)
- :mod:`~dawnlab.flexflow.soap` - configurations, validation, strategies as JSON (Section 4)
- :mod:`~dawnlab.flexflow.machine` - devices, links, routes; topology files and presets (Section 5)
- :mod:`~dawnlab.flexflow.costs` - analytic roofline and measured torch task costs (Section 5.1)
- :mod:`~dawnlab.flexflow.simulator` - task graph, full and delta simulation (Sections 5.2-5.3)
- :mod:`~dawnlab.flexflow.search` - Metropolis-Hastings search with parallel chains (Section 6)
- :mod:`~dawnlab.flexflow.execute` - running a strategy for real (an MLP over gloo processes)
- :mod:`~dawnlab.flexflow.validation` - the simulator against measured CPU runs (Section 8.3)

Examples
--------
>>> import dawnlab.flexflow as ff
>>> g, m = ff.benchmarks.alexnet(64 * 4), ff.Machine.preset("p100x4")
>>> sim = ff.Simulator(g, m)
>>> dp = sim.simulate(ff.Strategy.data_parallel(g, m)).iteration_time
>>> ex = sim.simulate(ff.Strategy.expert(g, m)).iteration_time
>>> ex < dp
True
"""

from dawnlab.flexflow import benchmarks
from dawnlab.flexflow.costs import AnalyticCosts, MeasuredCosts
from dawnlab.flexflow.graph import Graph, GraphBuilder, GraphError, Op
from dawnlab.flexflow.machine import Device, Link, Machine, MachineError
from dawnlab.flexflow.search import MCMCSearch, SearchState, search
from dawnlab.flexflow.simulator import Simulator, Timeline
from dawnlab.flexflow.trace import graph_from_module, register_rule
from dawnlab.flexflow import execute, validation  # noqa: F401
from dawnlab.flexflow import validate as _validate_alias  # noqa: F401  (loaded first, see below)
from dawnlab.flexflow.soap import ConfigError, OpConfig, Strategy, random_config, valid_degrees, validate

# ``validate`` is the configuration check (soap.validate).  The measurements live in
# ``validation``; ``dawnlab.flexflow.validate`` is kept as that module's old import path for
# ``from dawnlab.flexflow.validate import check``.  It is imported above, before the function is
# bound, so that importing it later cannot rebind the package attribute to the module.

__all__ = ["benchmarks", "AnalyticCosts", "MeasuredCosts", "Graph", "GraphBuilder", "GraphError", "Op",
           "Device", "Link", "Machine", "MachineError", "Simulator", "Timeline", "MCMCSearch", "SearchState", "search", "ConfigError",
           "OpConfig", "Strategy", "random_config", "valid_degrees", "validate", "graph_from_module",
           "register_rule", "execute", "validation"]
