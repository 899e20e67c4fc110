"""HTTP routers: thin, one per capability; they parse and authorise, then call one domain function."""
