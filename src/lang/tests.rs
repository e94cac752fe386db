use super::dict::Dictionary;
use super::pivot::{Pivot, Reader, ReadingFile};
use super::*;
use std::collections::HashSet;

/// The project's own Chinese file, with a few real CC-CEDICT entries (the full dictionary is a fetched file).
fn zh() -> Reader {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/zh/lang.toml")).unwrap();
    #[derive(serde::Deserialize)]
    struct F {
        reading: ReadingFile,
    }
    let f: F = toml::from_str(&text).unwrap();
    let dict = Dictionary::parse(
        "裝飾品 装饰品 [zhuang1 shi4 pin3] /ornament; adornment/decoration/\n\
         紅色 红色 [hong2 se4] /red (color)/revolutionary/\n\
         心形 心形 [xin1 xing2] /heart shape/\n\
         燈籠 灯笼 [deng1 long2] /lantern/\n\
         骷髏 骷髅 [ku1 lou2] /human skeleton/human skull/\n\
         蠟燭 蜡烛 [la4 zhu2] /candle/CL:根[gen1],支[zhi1]/\n\
         杯子 杯子 [bei1 zi5] /cup/glass/CL:個|个[ge4]/\n\
         的 的 [de5] /of; ~'s (possessive particle)/\n",
    );
    Reader::new(f.reading, Some(std::sync::Arc::new(dict)))
}

fn catalog() -> HashSet<String> {
    ["red", "heart", "decoration", "lantern", "skull", "candle", "cup", "mug"].iter().map(|s| s.to_string()).collect()
}

fn read(text: &str) -> Pivot {
    zh().read(text, &catalog(), "GBP")
}

#[test]
fn words_are_read_as_the_glosses_the_catalog_uses() {
    assert_eq!(read("有没有红色的心形装饰品？").text, "red heart decoration?");
    assert_eq!(read("我想买蜡烛").text, "candle");
    let p = read("有没有红色的心形装饰品？");
    assert!(p.terms.contains(&("装饰品".to_string(), "decoration".to_string())), "{:?}", p.terms);
}

#[test]
fn prices_in_the_shops_currency_become_english_price_phrases() {
    assert_eq!(read("10英镑以下的灯笼").text, "under £10 lantern");
    assert_eq!(read("不超过20镑的蜡烛").text, "under £20 candle");
    assert_eq!(read("50到100英镑").text, "between £50 and £100");
    assert_eq!(read("二十镑左右的杯子").text, "around £20 cup");
    assert_eq!(read("£5以上").text, "over £5");
    assert_eq!(read("一百五十英镑以内").text, "under £150");
    assert_eq!(read("10以内的灯笼").text, "under £10 lantern", "a bound without a currency is the shop's");
}

#[test]
fn a_budget_in_another_currency_is_noted_not_applied() {
    for msg in ["100元以内的灯笼", "不超过50块的灯笼", "50到100元的灯笼", "¥80以下的灯笼"] {
        let p = read(msg);
        assert_eq!(p.foreign_budget.as_deref(), Some("CNY"), "{msg}");
        assert_eq!(p.text, "lantern", "{msg}: no price phrase, no stray bound word");
    }
}

#[test]
fn negation_references_and_counts() {
    assert_eq!(read("不要红色的").text, "without red");
    assert_eq!(read("灯笼，不要骷髅的").text, "lantern, without skull");
    assert_eq!(read("第一个多少钱？").text, "how much is the first one?");
    assert_eq!(read("便宜一点的").text, "cheaper");
    assert_eq!(read("比较一下前两个").text, "compare the first two");
    assert_eq!(read("6个装的蜡烛").text, "pack of 6 candle");
    assert_eq!(read("好的").text, "yes");
}

#[test]
fn order_numbers_and_service_words() {
    assert_eq!(read("我的订单536365到哪了？").text, "where is my order 536365?");
    assert_eq!(read("转人工").text, "talk to a person");
    assert_eq!(read("怎么退货").text, "how do i return an item");
    assert_eq!(read("一个杯子").text, "cup", "a numeral without a unit is left to the dictionary");
}

#[test]
fn full_width_forms_and_traditional_characters_are_read() {
    assert_eq!(read("１０英镑以下的灯笼").text, "under £10 lantern");
    assert_eq!(read("紅色的燈籠").text, "red lantern");
}

#[test]
fn the_language_is_told_by_its_letters() {
    let langs = Languages {
        list: vec![Language {
            code: "zh".into(),
            name: "中文".into(),
            script: Script::Han,
            reader: Reader::default(),
            policies: None,
        }],
    };
    assert_eq!(langs.detect("有没有红色的心形装饰品？"), Some("zh"));
    assert_eq!(langs.detect("White Hanging Heart T-Light Holder 多少钱？"), Some("zh"));
    assert_eq!(langs.detect("我的订单536365到哪了"), Some("zh"));
    assert_eq!(langs.detect("do you have red lanterns?"), Some("en"));
    assert_eq!(langs.detect("thanks"), None, "too short to tell");
    assert_eq!(langs.detect("536365"), None);
    assert_eq!(langs.detect("ok 👍"), None);
    assert_eq!(langs.detect("ありがとう"), None, "kana is Japanese, not loaded here");
    assert!(langs.knows("en") && langs.knows("zh") && !langs.knows("fr"));
}

#[test]
fn the_projects_languages_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let langs =
        Languages::load(&root.join("prompts"), &root.join("data/policies"), &root.join("no-such-dict")).unwrap();
    assert_eq!(langs.codes(), ["en", "zh"]);
    let zh = langs.get("zh").unwrap();
    assert_eq!(zh.name, "中文");
    assert!(!zh.reader.has_dictionary(), "a missing dictionary is a warning, not an error");
}

#[test]
fn training_utterances_in_other_languages_are_read_as_the_chat_reads_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let langs =
        Languages::load(&root.join("prompts"), &root.join("data/policies"), &root.join("no-such-dict")).unwrap();
    assert_eq!(langs.into_english("where is my order", "GBP"), None, "English stays as written");
    assert_eq!(langs.into_english("536365", "GBP"), None, "no letters of a loaded language");
    let read = langs.into_english("不要红色的", "GBP").expect("Chinese is read");
    assert_eq!(read, langs.get("zh").unwrap().reader.read("不要红色的", &HashSet::new(), "GBP").text);
    assert!(read.starts_with("without"), "the phrase table reads the negation: {read}");
    // one Han letter does not tell the language by detection; its script still does
    assert!(langs.into_english("嗨", "GBP").is_some());
    let us = vec![
        crate::intent::data::Utterance { flags: "B".into(), text: "不要红色的".into(), intent: "search".into() },
        crate::intent::data::Utterance { flags: "B".into(), text: "track my order".into(), intent: "t".into() },
    ];
    let (english, other) = crate::intent::data::split_by_language(us, &|t| langs.into_english(t, "GBP"));
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].text, read);
    assert_eq!(english[0].text, "track my order");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// n (1..=9999) in Chinese numerals, as people write them ("一百零五", "十五", "两千").
    fn chinese(n: u32) -> String {
        const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
        let parts = [(n / 1000, "千"), (n / 100 % 10, "百"), (n / 10 % 10, "十"), (n % 10, "")];
        let mut out = String::new();
        let mut gap = false;
        for (i, (d, unit)) in parts.iter().enumerate() {
            if *d == 0 {
                gap = !out.is_empty();
                continue;
            }
            if gap {
                out.push('零');
                gap = false;
            }
            let leading_ten = i == 2 && out.is_empty() && *d == 1;
            if !leading_ten {
                out.push_str(if *d == 2 && (i == 0 || i == 1) { "两" } else { D[*d as usize] });
            }
            out.push_str(unit);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any amount, in digits or Chinese numerals, with any bound word: the shop's currency becomes the English
        /// limit; another currency is noted and leaves no number behind.
        #[test]
        fn a_budget_is_read_in_every_form(n in 1u32..10_000, numerals: bool, bound in 0usize..4, foreign: bool) {
            let amount = if numerals { chinese(n) } else { n.to_string() };
            let unit = if foreign { "元" } else { "英镑" };
            let (text, english) = match bound {
                0 => (format!("{amount}{unit}以内的灯笼"), format!("under £{n} lantern")),
                1 => (format!("不超过{amount}{unit}的灯笼"), format!("under £{n} lantern")),
                2 => (format!("{amount}{unit}以上的灯笼"), format!("over £{n} lantern")),
                _ => (format!("{amount}{unit}左右的灯笼"), format!("around £{n} lantern")),
            };
            let p = read(&text);
            if foreign {
                prop_assert_eq!(p.foreign_budget.as_deref(), Some("CNY"), "{}", text);
                prop_assert_eq!(p.text, "lantern", "{}", text);
            } else {
                prop_assert_eq!(p.foreign_budget, None);
                prop_assert_eq!(p.text, english, "{}", text);
            }
        }

        /// Whatever is excluded, it is said as "without" and its word, never as a wanted word.
        #[test]
        fn a_negation_excludes_what_follows(neg in 0usize..4, w in 0usize..4) {
            let (zh, en) = [("红色", "red"), ("骷髅", "skull"), ("心形", "heart"), ("蜡烛", "candle")][w];
            let form = ["不要", "不想要", "不含", "没有"][neg];
            let p = read(&format!("灯笼，{form}{zh}的"));
            prop_assert_eq!(p.text, format!("lantern, without {en}"));
        }
    }
}
