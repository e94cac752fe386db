//! Live conversations: one broadcast room per chat session that has listeners, so a member of staff watching a
//! chat sees the shopper's messages and the assistant's answers as they happen, and the shopper's connection
//! receives what staff write after taking the chat over.
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Something that happened in a conversation, as both sides see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    Shopper {
        text: String,
    },
    Assistant {
        text: String,
    },
    /// A member of staff wrote to the shopper.
    Staff {
        name: String,
        text: String,
    },
    /// Staff took the conversation over: the assistant stops answering.
    StaffJoined {
        name: String,
    },
    /// Staff handed the conversation back to the assistant (or left).
    StaffLeft {
        name: String,
    },
    /// The shopper's connection opened or closed.
    Presence {
        shopper_online: bool,
    },
}

const ROOM_CAPACITY: usize = 64;

/// The rooms. Cloning is shallow.
#[derive(Clone, Default)]
pub struct Live {
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<LiveEvent>>>>,
}

impl Live {
    /// Joins the session's room (created on first use).
    pub fn subscribe(&self, session: &str) -> broadcast::Receiver<LiveEvent> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.retain(|_, tx| tx.receiver_count() > 0);
        rooms.entry(session.to_string()).or_insert_with(|| broadcast::channel(ROOM_CAPACITY).0).subscribe()
    }

    /// Tells everyone in the room; nobody listening is fine.
    pub fn publish(&self, session: &str, event: LiveEvent) {
        if let Some(tx) = self.rooms.lock().unwrap_or_else(|e| e.into_inner()).get(session) {
            let _ = tx.send(event);
        }
    }

    /// Sessions whose shopper is connected now.
    pub fn listeners(&self, session: &str) -> usize {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).get(session).map_or(0, |tx| tx.receiver_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_sides_of_a_room_hear_each_other_and_other_rooms_stay_apart() {
        let live = Live::default();
        let mut shopper = live.subscribe("a");
        let mut staff = live.subscribe("a");
        let mut other = live.subscribe("b");
        live.publish("a", LiveEvent::StaffJoined { name: "sam".into() });
        assert_eq!(shopper.recv().await.unwrap(), LiveEvent::StaffJoined { name: "sam".into() });
        assert_eq!(staff.recv().await.unwrap(), LiveEvent::StaffJoined { name: "sam".into() });
        assert!(other.try_recv().is_err());
        drop((shopper, staff));
        live.publish("a", LiveEvent::Shopper { text: "nobody hears".into() });
        assert_eq!(live.listeners("a"), 0);
    }
}
