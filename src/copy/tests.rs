use super::*;

#[test]
fn brand_rules_flag_banned_words_missing_phrases_length_and_reading_level() {
    let rules = BrandRules {
        banned: vec!["cheap".into(), "must have".into()],
        required: vec!["Aisle Gifts".into()],
        max_grade: Some(8.0),
        max_chars: Some(60),
    };
    let bad = rules
        .issues("A cheap, must have lantern: incomprehensibly extraordinary, indubitably unparalleled craftsmanship.");
    let details: Vec<&str> = bad.iter().map(|i| i.detail.as_str()).collect();
    assert!(details.iter().any(|d| d.contains("\"cheap\"")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("\"must have\"")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("Aisle Gifts")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("characters")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("reading grade")), "{details:?}");
    assert!(rules.issues("A lovely lantern from Aisle Gifts. It is red.").is_empty());
    // "cheaper" is not the banned word "cheap"
    assert!(rules.issues("Cheaper here at Aisle Gifts.").is_empty());
}

#[test]
fn reading_grade_orders_simple_and_hard_text() {
    let easy = reading_grade("The cat sat on the mat. It was red.").unwrap();
    let hard =
        reading_grade("Incomprehensibly extraordinary craftsmanship characterises this unparalleled collectible.")
            .unwrap();
    assert!(easy < 3.0 && hard > 12.0, "{easy} {hard}");
    assert_eq!(syllables("table"), 2);
    assert_eq!(syllables("make"), 1);
    assert_eq!(reading_grade("..."), None);
}

#[test]
fn parameters_outside_the_declared_choices_are_refused_and_defaults_fill_in() {
    let t = CopyTemplate {
        name: "push".into(),
        label: "Push".into(),
        description: String::new(),
        params: vec![
            Param {
                name: "tone".into(),
                choices: vec!["friendly".into(), "urgent".into()],
                default: "friendly".into(),
            },
            Param { name: "language".into(), choices: vec![], default: "English".into() },
        ],
        max_tokens: 40,
    };
    let given = BTreeMap::from([("tone".to_string(), "shouty".to_string())]);
    assert!(matches!(resolve_params(&t, &given), Err(CopyError::BadParam { .. })));
    let given = BTreeMap::from([("colour".to_string(), "red".to_string())]);
    assert!(matches!(resolve_params(&t, &given), Err(CopyError::BadParam { .. })));
    let p = resolve_params(&t, &BTreeMap::from([("language".to_string(), "French".to_string())])).unwrap();
    assert_eq!(p["tone"], "friendly");
    assert_eq!(p["language"], "French");
}

#[test]
fn the_shipped_templates_load_with_their_parameters() {
    let lib = Library::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prompts")).unwrap();
    let names: Vec<&str> = lib.templates.iter().map(|t| t.name.as_str()).collect();
    for n in ["product_description", "email", "push_notification", "ad_headline", "social_post"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
        assert!(!lib.get(n).unwrap().params.is_empty(), "{n} declares no parameters");
    }
}
