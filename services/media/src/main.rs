//! `mdk-media`: starts the media sample through the kit.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::init_logging();
    let config = service_kit::Config::from_env("media");
    let store = mdk_media::Store::open(&config.data_dir)?;
    let analytics = service_kit::Analytics::from_env(&config.service);
    service_kit::run(config, mdk_media::router(store, analytics)).await
}
