//! Publishing task events to containerd over its ttrpc socket. The connection is made again
//! when it broke (containerd restarted): an exit that happens meanwhile still arrives.

use std::sync::Mutex;
use std::time::Duration;

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

pub struct Events {
    namespace: String,
    publisher: Mutex<Option<RemotePublisher>>,
}

/// Tries over about 30 s: long enough for a containerd restart.
const TRIES: u32 = 60;

impl Events {
    pub fn new(namespace: &str, publisher: RemotePublisher) -> Events {
        Events {
            namespace: namespace.to_string(),
            publisher: Mutex::new(Some(publisher)),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Publishes `event` on `topic`, reconnecting on failure.
    pub fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        let mut guard = self.publisher.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..TRIES {
            if guard.is_none() {
                let addr = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
                *guard = RemotePublisher::new(&addr).ok();
            }
            if let Some(p) = guard.as_ref() {
                match p.publish(
                    Context::default(),
                    topic,
                    &self.namespace,
                    event.clone_box(),
                ) {
                    Ok(()) => return,
                    Err(e) => {
                        log::warn!("publish {topic} (attempt {attempt}): {e}");
                        *guard = None;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        log::error!("publish {topic}: gave up");
    }
}
