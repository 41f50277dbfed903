"""One module per middleware. A middleware is an async callable taking the RequestContext;
it raises ``GatewayError`` to answer early and knows nothing of the others — the order lives
only in ``tollhouse.gateway.pipeline.build_pipeline``."""
