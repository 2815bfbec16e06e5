"""Entity repositories: one module per entity (components, deployments, workflows, keys, audit),
services-side code over the Store port (:mod:`pilothouse.ports`). They import only the ports, the
domain, errors, the clock and jsonbounds; the adapters that implement the port live in
:mod:`pilothouse.store`."""
