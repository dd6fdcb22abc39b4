//! `mdk-auth`: starts the auth sample through the kit.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::init_logging();
    let config = service_kit::Config::from_env("auth");
    let auth = mdk_auth::Auth::open(&config.data_dir, mdk_auth::iterations_from_env())?;
    service_kit::run(config, mdk_auth::router(auth)).await
}
