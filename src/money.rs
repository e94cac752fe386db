//! Money as the shop writes it: its currency (ISO 4217: the sign, its side and the decimals, from a table of
//! common currencies; another is written with its code) and its locale (the decimal mark and where the sign goes:
//! `£12.50` in English, `12,50 €` in German or French, `€ 12,50` in Dutch). Both are set once at start
//! (`chat.currency`, `chat.locale`); every price on a card, in a reply or in marketing copy is written here.
use std::sync::RwLock;

/// How a currency's amounts are written in English: its sign, before or after the number, and its decimals.
struct Money {
    code: &'static str,
    sign: &'static str,
    after: bool,
    decimals: usize,
}

const fn m(code: &'static str, sign: &'static str, after: bool, decimals: usize) -> Money {
    Money { code, sign, after, decimals }
}

/// The currencies a shop commonly sells in (ISO 4217); another is written with its code ("XYZ 12.00").
const CURRENCIES: &[Money] = &[
    m("GBP", "£", false, 2),
    m("USD", "$", false, 2),
    m("EUR", "€", false, 2),
    m("JPY", "¥", false, 0),
    m("CNY", "¥", false, 2),
    m("AUD", "A$", false, 2),
    m("CAD", "C$", false, 2),
    m("NZD", "NZ$", false, 2),
    m("HKD", "HK$", false, 2),
    m("SGD", "S$", false, 2),
    m("INR", "₹", false, 2),
    m("KRW", "₩", false, 0),
    m("BRL", "R$", false, 2),
    m("MXN", "MX$", false, 2),
    m("CHF", "CHF ", false, 2),
    m("SEK", " kr", true, 2),
    m("NOK", " kr", true, 2),
    m("DKK", " kr", true, 2),
    m("PLN", " zł", true, 2),
];

/// How a language writes an amount of money: its decimal mark, and where the sign goes (None: the currency's own
/// English way, as `£12.50` or `49.00 kr`). Amounts are written without thousands separators in every locale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Locale {
    pub lang: &'static str,
    pub decimal: char,
    /// Some(true): after the number, a space between ("12,50 €"); Some(false): before it, a space between.
    sign_after: Option<bool>,
}

const fn l(lang: &'static str, decimal: char, sign_after: Option<bool>) -> Locale {
    Locale { lang, decimal, sign_after }
}

/// The locales known: by language and region where a region writes money its own way, else by language (`de-AT`
/// is written as `de`).
const LOCALES: &[Locale] = &[
    l("de-ch", '.', Some(false)),
    l("pt-br", ',', Some(false)),
    l("en", '.', None),
    l("zh", '.', None),
    l("ja", '.', None),
    l("ko", '.', None),
    l("de", ',', Some(true)),
    l("fr", ',', Some(true)),
    l("es", ',', Some(true)),
    l("it", ',', Some(true)),
    l("pt", ',', Some(true)),
    l("fi", ',', Some(true)),
    l("sv", ',', Some(true)),
    l("nb", ',', Some(true)),
    l("no", ',', Some(true)),
    l("da", ',', Some(true)),
    l("pl", ',', Some(true)),
    l("cs", ',', Some(true)),
    l("nl", ',', Some(false)),
];

impl Locale {
    /// The locale of a language tag ("de", "de-DE", "pt_BR"); None when its language is not known.
    pub fn of(tag: &str) -> Option<&'static Locale> {
        let tag = tag.trim().replace('_', "-").to_ascii_lowercase();
        let lang = tag.split('-').next().unwrap_or("");
        LOCALES.iter().find(|l| l.lang == tag).or_else(|| LOCALES.iter().find(|l| l.lang == lang))
    }

    /// The languages known, for an error message.
    pub fn known() -> String {
        LOCALES.iter().map(|l| l.lang).filter(|l| !l.contains('-')).collect::<Vec<_>>().join(", ")
    }
}

/// The shop's currency and locale, set once at start; GBP and English until then.
static SHOP: RwLock<(&str, &Locale)> = RwLock::new(("GBP", &ENGLISH));

const ENGLISH: Locale = l("en", '.', None);

/// Sets the currency every price is written in (the shop sells in one).
pub fn set_shop_currency(code: &str) {
    let code: &'static str = match CURRENCIES.iter().find(|c| c.code == code) {
        Some(c) => c.code,
        None => Box::leak(code.to_string().into_boxed_str()),
    };
    SHOP.write().unwrap_or_else(|e| e.into_inner()).0 = code;
}

/// Sets the locale prices are written in ("de-DE"); an unknown language is an error naming the known ones.
pub fn set_shop_locale(tag: &str) -> Result<(), String> {
    let locale =
        Locale::of(tag).ok_or_else(|| format!("{tag:?} is not a known locale (known: {})", Locale::known()))?;
    SHOP.write().unwrap_or_else(|e| e.into_inner()).1 = locale;
    Ok(())
}

/// The shop's currency code.
pub fn shop_currency() -> &'static str {
    SHOP.read().unwrap_or_else(|e| e.into_inner()).0
}

/// The shop's locale.
pub fn shop_locale() -> &'static Locale {
    SHOP.read().unwrap_or_else(|e| e.into_inner()).1
}

/// A price in the shop's currency and locale: "£2.55", "$2.55", "¥1200", "2.55 kr", "2,55 €".
pub fn format_price(p: f64) -> String {
    format_money(p, shop_currency(), false)
}

/// An amount in a currency, in the shop's locale; `whole`: without decimals when it is a whole amount ("£10" for a
/// budget).
pub fn format_money(p: f64, code: &str, whole: bool) -> String {
    format_money_in(p, code, whole, shop_locale())
}

/// An amount in a currency and a locale.
pub fn format_money_in(p: f64, code: &str, whole: bool, locale: &Locale) -> String {
    let (sign, after, decimals) = match CURRENCIES.iter().find(|c| c.code == code) {
        Some(c) => (c.sign, c.after, if whole && p.fract() == 0.0 { 0 } else { c.decimals }),
        None => (code, false, 2),
    };
    let number = format!("{p:.decimals$}").replace('.', &locale.decimal.to_string());
    match (locale.sign_after, CURRENCIES.iter().any(|c| c.code == code)) {
        (Some(true), _) => format!("{number} {}", sign.trim()),
        (Some(false), _) | (None, false) => format!("{} {number}", sign.trim()),
        (None, true) if after => format!("{number}{sign}"),
        (None, true) => format!("{sign}{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_written_the_way_each_currency_writes_them() {
        assert_eq!(format_money(2.55, "GBP", false), "£2.55");
        assert_eq!(format_money(10.0, "USD", true), "$10");
        assert_eq!(format_money(7.5, "EUR", true), "€7.50");
        assert_eq!(format_money(1200.0, "JPY", false), "¥1200");
        assert_eq!(format_money(49.0, "SEK", false), "49.00 kr");
        assert_eq!(format_money(3.2, "XYZ", false), "XYZ 3.20");
        assert_eq!(format_price(2.55), "£2.55", "GBP unless the shop says otherwise");
    }

    #[test]
    fn each_locale_writes_its_decimal_mark_and_puts_the_sign_its_own_way() {
        let at = |tag: &str| Locale::of(tag).unwrap();
        assert_eq!(format_money_in(12.5, "EUR", false, at("de-DE")), "12,50 €");
        assert_eq!(format_money_in(12.5, "EUR", false, at("fr")), "12,50 €");
        assert_eq!(format_money_in(10.0, "EUR", true, at("es-ES")), "10 €");
        assert_eq!(format_money_in(12.5, "EUR", false, at("nl-NL")), "€ 12,50");
        assert_eq!(format_money_in(49.0, "SEK", false, at("sv-SE")), "49,00 kr");
        assert_eq!(format_money_in(12.5, "CHF", false, at("de_CH")), "CHF 12.50");
        assert_eq!(format_money_in(12.5, "CHF", false, at("de-AT")), "12,50 CHF");
        assert_eq!(format_money_in(12.5, "BRL", false, at("pt-BR")), "R$ 12,50");
        assert_eq!(format_money_in(12.5, "EUR", false, at("en-IE")), "€12.50");
        assert_eq!(format_money_in(1200.0, "CNY", false, at("zh-CN")), "¥1200.00");
        assert!(Locale::of("xx-YY").is_none());
        assert!(Locale::known().contains("de"));
    }
}
