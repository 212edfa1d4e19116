"""derivbot runtime: CLI, config, runner, order manager, gateways, metrics, replay."""
