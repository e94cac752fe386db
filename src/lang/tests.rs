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
