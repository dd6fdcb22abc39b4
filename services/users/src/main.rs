//! `mdk-users`: starts the users sample through the kit.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::init_logging();
    let config = service_kit::Config::from_env("users");
    let db = mdk_users::Db::open(&config.data_dir)?;
    let analytics = service_kit::Analytics::from_env(&config.service);
    service_kit::run(config, mdk_users::router(db, analytics)).await
}
