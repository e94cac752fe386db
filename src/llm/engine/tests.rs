use super::*;

#[test]
fn a_character_split_across_tokens_is_held_back_until_complete() {
    let mut s = Utf8Stream::default();
    let pound = "£".as_bytes();
    assert_eq!(s.push(&pound[..1]), "");
    assert_eq!(s.push(&pound[1..]), "£");
    assert_eq!(s.push(b"5"), "5");
}

#[test]
fn a_missing_model_fails_to_start_with_a_clear_message() {
    let cfg = LlmConfig { model: "models/nope.gguf".into(), ..LlmConfig::default() };
    let err = Engine::start(&cfg).err().expect("must fail");
    assert!(err.to_string().contains("models/nope.gguf not found"), "{err}");
}

#[test]
fn a_corrupt_model_file_fails_to_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.gguf");
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(&path, bytes).unwrap();
    let cfg = LlmConfig { model: path.clone(), ..LlmConfig::default() };
    let err = Engine::start(&cfg).err().expect("must fail");
    assert!(matches!(err, LlmError::Load { .. }), "{err}");
    assert!(err.to_string().contains("broken.gguf") && err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn a_stop_string_split_across_pieces_ends_the_text_before_it() {
    let mut s = StopText::new(vec!["\nUser:".into(), "###".into()]);
    assert_eq!(s.push("Hello"), ("Hello".into(), false));
    assert_eq!(s.push(" there\nUs"), (" there".into(), false), "a possible start is held back");
    assert_eq!(s.push("er: hi"), (String::new(), true));
    assert_eq!(s.flush(true), "");
    let mut s = StopText::new(vec!["###".into()]);
    assert_eq!(s.push("a #"), ("a ".into(), false));
    assert_eq!(s.push("1"), ("#1".into(), false), "not a stop after all: sent");
    assert_eq!(s.push("#"), (String::new(), false));
    assert_eq!(s.flush(false), "#", "held text is sent when the generation ends otherwise");
    let mut none = StopText::new(vec![]);
    assert_eq!(none.push("###"), ("###".into(), false));
}

#[test]
fn long_conversations_lose_their_oldest_turns_never_the_system_prompt_or_the_question() {
    let msgs = vec![
        Message::system("facts: teddy £5"),
        Message::user("first question here"),
        Message::assistant("first answer here"),
        Message::user("second question"),
        Message::assistant("second answer"),
        Message::user("now?"),
    ];
    let chars = |m: &[Message]| Ok(m.iter().map(|m| m.content.len()).sum::<usize>());
    let (kept, dropped) = trim_to_fit(&msgs, 60, chars).unwrap();
    assert_eq!(dropped, 2);
    assert_eq!(kept[0].content, "facts: teddy £5");
    assert_eq!(kept[1].content, "second question");
    assert_eq!(kept.last().unwrap().content, "now?");
    let (all, none) = trim_to_fit(&msgs, 1000, chars).unwrap();
    assert_eq!((all.len(), none), (6, 0));
    // nothing left to drop: the caller learns how long the prompt still is
    assert_eq!(trim_to_fit(&msgs, 10, chars).unwrap_err(), 20);
}

#[test]
fn a_request_takes_the_free_slot_with_the_longest_shared_prefix_or_copies_a_longer_one() {
    let sys: Vec<i32> = (0..40).collect();
    let turn = |t: &[i32]| sys.iter().chain(t).copied().collect::<Vec<i32>>();
    let a = turn(&[100, 101, 102]);
    let b = turn(&[200]);
    let prompt = turn(&[100, 101, 102, 103, 104]);
    // slot 1 is free and has this conversation's earlier turn
    let plan = plan_slot(&[(&b, true, 5), (&a, true, 3), (&[], true, 1)], &prompt).unwrap();
    assert_eq!(plan, Plan { slot: 1, reuse: 43, copy_from: None });
    // slot 1 is busy: slot 0 shares the system prompt (40) and slot 1's extra 3 tokens are not worth a copy
    let plan = plan_slot(&[(&b, true, 5), (&a, false, 3), (&[], true, 1)], &prompt).unwrap();
    assert_eq!(plan, Plan { slot: 0, reuse: 40, copy_from: None });
    // only an empty slot is free: the longest prefix (this conversation's) is copied from a busy slot into it
    let plan = plan_slot(&[(&b, false, 5), (&a, false, 3), (&[], true, 1)], &prompt).unwrap();
    assert_eq!(plan, Plan { slot: 2, reuse: 0, copy_from: Some((1, 43)) });
    // one token is always evaluated, so the last prompt token's logits exist
    let plan = plan_slot(&[(&prompt, true, 1)], &prompt).unwrap();
    assert_eq!(plan.reuse, prompt.len() - 1);
    assert_eq!(plan_slot(&[(&a, false, 1)], &prompt), None);
    // among caches sharing nothing, the least recently used is overwritten
    let plan = plan_slot(&[(&[7], true, 9), (&[8], true, 2)], &prompt).unwrap();
    assert_eq!(plan.slot, 1);
    // a cache sharing only the template's first tokens is kept: an empty slot is taken instead
    let other: Vec<i32> = [0, 1, 2].iter().copied().chain(500..560).collect();
    let plan = plan_slot(&[(&other, true, 5), (&[], true, 0)], &prompt).unwrap();
    assert_eq!(plan, Plan { slot: 1, reuse: 0, copy_from: None });
}
