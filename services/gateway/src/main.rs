//! `mdk-gateway`: starts the gateway sample through the kit.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::init_logging();
    let config = service_kit::Config::from_env("gateway");
    let gateway = mdk_gateway::Gateway::from_env(&config.service);
    service_kit::run(config, mdk_gateway::router(gateway)).await
}
