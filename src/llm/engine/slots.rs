//! Which slot a request takes (the longest shared prompt prefix, or a copy of a longer one) and trimming a
//! conversation to fit the context.
use super::*;

/// Where a new request goes: among free slots whose cache shares at least half of itself with the prompt (as
/// llama-server's slot similarity), the one sharing the longest prefix, keeping `reuse` tokens of it; else an empty
/// slot, else the least recently used one (a cache that shares little is not worth more than an empty slot). When
/// another slot (busy or not) holds a prefix at least `MIN_COPY` tokens longer, `copy_from` its first n tokens.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) slot: usize,
    pub(super) reuse: usize,
    pub(super) copy_from: Option<(usize, usize)>,
}

/// Copying a prefix is worth it only when it saves at least this many tokens over the slot's own cache.
pub(super) const MIN_COPY: usize = 16;

/// `slots`: each slot's cached tokens, whether it is free, and when it was last used.
pub(super) fn plan_slot<T: PartialEq>(slots: &[(&[T], bool, u64)], prompt: &[T]) -> Option<Plan> {
    let lcp = |a: &[T]| a.iter().zip(prompt).take_while(|(x, y)| x == y).count().min(prompt.len().saturating_sub(1));
    let free: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].1).collect();
    let similar = free
        .iter()
        .copied()
        .filter(|&i| !slots[i].0.is_empty() && 2 * lcp(slots[i].0) >= slots[i].0.len().min(prompt.len()))
        .max_by_key(|&i| (lcp(slots[i].0), std::cmp::Reverse(slots[i].2)));
    let own = similar
        .or_else(|| free.iter().copied().find(|&i| slots[i].0.is_empty()))
        .or_else(|| free.iter().copied().min_by_key(|&i| slots[i].2))?;
    let own_n = lcp(slots[own].0);
    let best = (0..slots.len()).filter(|&i| i != own).max_by_key(|&i| lcp(slots[i].0));
    match best {
        Some(b) if lcp(slots[b].0) >= own_n + MIN_COPY => {
            Some(Plan { slot: own, reuse: 0, copy_from: Some((b, lcp(slots[b].0))) })
        }
        _ => Some(Plan { slot: own, reuse: own_n, copy_from: None }),
    }
}

/// Drops the oldest turns until `count` of the conversation fits `limit`: never a system message, never the
/// latest user message or what follows it. Err holds the smallest count reached when nothing fits.
pub(super) fn trim_to_fit(
    messages: &[Message],
    limit: usize,
    count: impl Fn(&[Message]) -> Result<usize, LlmError>,
) -> Result<(Vec<Message>, usize), usize> {
    let mut msgs = messages.to_vec();
    let mut dropped = 0;
    loop {
        let n = count(&msgs).map_err(|_| 0usize)?;
        if n <= limit {
            return Ok((msgs, dropped));
        }
        let last_user = msgs.iter().rposition(|m| m.role == "user").unwrap_or(msgs.len());
        match (0..last_user).find(|&i| msgs[i].role != "system") {
            Some(i) => {
                msgs.remove(i);
                dropped += 1;
            }
            None => return Err(n),
        }
    }
}
