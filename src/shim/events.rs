//! Publishing task events to containerd over its ttrpc socket. The connection is made again
//! when it broke (containerd restarted): an exit that happens meanwhile still arrives.
//!
//! The envelope is built here rather than by the crate's `RemotePublisher::publish`, which
//! names the event's type through its protobuf descriptor (and encodes it with
//! `write_to_bytes_dyn`, which asks the descriptor too): building the descriptors of the
//! events' proto files took 414 KiB of heap (measured with mallinfo2), kept for the shim's
//! whole life, i.e. per pod. The task events' type names are fixed per topic (the table
//! below, checked against the descriptors by a unit test); another topic still asks the
//! descriptor.

use std::sync::Mutex;
use std::time::Duration;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{CodedOutputStream, MessageDyn};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::topics;
use containerd_shim::protos::{Client, EventsClient};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;

pub struct Events {
    namespace: String,
    client: Mutex<Option<EventsClient>>,
}

/// Tries over about 30 s: long enough for a containerd restart.
const TRIES: u32 = 60;

/// The type name containerd decodes an event of `topic` as (`containerd.events.*`).
fn type_name(topic: &str) -> Option<&'static str> {
    Some(match topic {
        topics::TASK_CREATE_EVENT_TOPIC => "containerd.events.TaskCreate",
        topics::TASK_START_EVENT_TOPIC => "containerd.events.TaskStart",
        topics::TASK_OOM_EVENT_TOPIC => "containerd.events.TaskOOM",
        topics::TASK_EXIT_EVENT_TOPIC => "containerd.events.TaskExit",
        topics::TASK_DELETE_EVENT_TOPIC => "containerd.events.TaskDelete",
        topics::TASK_EXEC_ADDED_EVENT_TOPIC => "containerd.events.TaskExecAdded",
        topics::TASK_EXEC_STARTED_EVENT_TOPIC => "containerd.events.TaskExecStarted",
        topics::TASK_PAUSED_EVENT_TOPIC => "containerd.events.TaskPaused",
        topics::TASK_RESUMED_EVENT_TOPIC => "containerd.events.TaskResumed",
        topics::TASK_CHECKPOINTED_EVENT_TOPIC => "containerd.events.TaskCheckpointed",
        _ => return None,
    })
}

/// The event's bytes. Not `write_to_bytes_dyn`, which names the message through its
/// descriptor (for an error message it only shows on failure): that alone built the 414 KiB.
fn encode(event: &dyn MessageDyn) -> Option<Vec<u8>> {
    let size = usize::try_from(event.compute_size_dyn()).ok()?;
    let mut v = Vec::with_capacity(size);
    let mut os = CodedOutputStream::vec(&mut v);
    event.write_to_with_cached_sizes_dyn(&mut os).ok()?;
    os.flush().ok()?;
    drop(os);
    Some(v)
}

/// The forward request carrying `event` on `topic`.
fn envelope(topic: &str, namespace: &str, event: &dyn MessageDyn) -> Option<ForwardRequest> {
    let mut any = Any::new();
    any.type_url = match type_name(topic) {
        Some(name) => name.to_string(),
        None => event.descriptor_dyn().full_name().to_string(),
    };
    any.value = encode(event)?;
    let mut env = Envelope::new();
    env.set_topic(topic.to_string());
    env.set_namespace(namespace.to_string());
    env.set_timestamp(containerd_shim::util::timestamp().ok()?);
    env.set_event(any);
    let mut req = ForwardRequest::new();
    req.set_envelope(env);
    Some(req)
}

/// A client of containerd's event service at TTRPC_ADDRESS.
fn connect() -> Option<EventsClient> {
    let addr = std::env::var("TTRPC_ADDRESS").ok()?;
    let fd = containerd_shim::util::connect(&addr).ok()?;
    Client::new(fd).ok().map(EventsClient::new)
}

impl Events {
    /// The crate's publisher is not used (see above): its connection closes here and the
    /// first event connects again.
    pub fn new(namespace: &str, publisher: RemotePublisher) -> Events {
        drop(publisher);
        Events {
            namespace: namespace.to_string(),
            client: Mutex::new(None),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Publishes `event` on `topic`, reconnecting on failure.
    pub fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        let Some(req) = envelope(topic, &self.namespace, event.as_ref()) else {
            log::error!("publish {topic}: cannot encode the event");
            return;
        };
        let mut guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..TRIES {
            if guard.is_none() {
                *guard = connect();
            }
            if let Some(c) = guard.as_ref() {
                match c.forward(Context::default(), &req) {
                    Ok(_) => return,
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

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::events::task as ev;
    use containerd_shim::protos::protobuf::MessageFull;

    /// The envelope's first: the descriptors built below stay for the process.
    #[test]
    fn envelope_then_type_names() {
        envelope_matches_the_crates();
        type_names_are_the_descriptors_names();
    }

    fn type_names_are_the_descriptors_names() {
        let pairs: [(&str, String); 10] = [
            (
                topics::TASK_CREATE_EVENT_TOPIC,
                ev::TaskCreate::descriptor().full_name().into(),
            ),
            (
                topics::TASK_START_EVENT_TOPIC,
                ev::TaskStart::descriptor().full_name().into(),
            ),
            (
                topics::TASK_OOM_EVENT_TOPIC,
                ev::TaskOOM::descriptor().full_name().into(),
            ),
            (
                topics::TASK_EXIT_EVENT_TOPIC,
                ev::TaskExit::descriptor().full_name().into(),
            ),
            (
                topics::TASK_DELETE_EVENT_TOPIC,
                ev::TaskDelete::descriptor().full_name().into(),
            ),
            (
                topics::TASK_EXEC_ADDED_EVENT_TOPIC,
                ev::TaskExecAdded::descriptor().full_name().into(),
            ),
            (
                topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                ev::TaskExecStarted::descriptor().full_name().into(),
            ),
            (
                topics::TASK_PAUSED_EVENT_TOPIC,
                ev::TaskPaused::descriptor().full_name().into(),
            ),
            (
                topics::TASK_RESUMED_EVENT_TOPIC,
                ev::TaskResumed::descriptor().full_name().into(),
            ),
            (
                topics::TASK_CHECKPOINTED_EVENT_TOPIC,
                ev::TaskCheckpointed::descriptor().full_name().into(),
            ),
        ];
        for (topic, name) in pairs {
            assert_eq!(type_name(topic), Some(name.as_str()), "{topic}");
        }
        assert_eq!(type_name("/tasks/?"), None);
    }

    /// The envelope is what the crate's publisher sends: same type URL, same payload; and
    /// making it builds no descriptor (heap measured around it: the descriptors cost 414 KiB).
    fn envelope_matches_the_crates() {
        let e = ev::TaskExit {
            container_id: "c".into(),
            pid: 7,
            exit_status: 3,
            ..Default::default()
        };
        let _ = containerd_shim::util::timestamp();
        // SAFETY: mallinfo2 has no preconditions.
        let before = unsafe { libc::mallinfo2() }.uordblks;
        let req = envelope(topics::TASK_EXIT_EVENT_TOPIC, "ns", &e).expect("envelope");
        // SAFETY: as above.
        let grew = unsafe { libc::mallinfo2() }.uordblks.saturating_sub(before);
        assert!(
            grew < 64 * 1024,
            "making the envelope took {grew} bytes of heap"
        );
        let env = req.envelope.as_ref().expect("set");
        let any = containerd_shim::util::convert_to_any(Box::new(e.clone())).expect("any");
        assert_eq!(env.topic, "/tasks/exit");
        assert_eq!(env.namespace, "ns");
        assert_eq!(env.event.type_url, any.type_url);
        assert_eq!(env.event.value, any.value);
    }
}
