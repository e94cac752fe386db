//! The keyword side's tokenizer: words as tantivy's simple tokenizer cuts them (runs of letters and digits),
//! except that Chinese, Japanese and Korean script, written without spaces, becomes overlapping character pairs
//! ("毛绒玩具" -> 毛绒 绒玩 玩具), the usual way to search CJK text without a dictionary: a query matches
//! wherever its pairs occur. Lower-casing and English stemming follow, as before, for everything else.
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The name the schema's text fields use.
pub const NAME: &str = "aisle_text";

/// The analyzer registered under [`NAME`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordsAndCjkPairs)
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Han (with extensions and compatibility ideographs), kana and Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff          // hiragana, katakana
        | 0x3400..=0x4dbf        // Han extension A
        | 0x4e00..=0x9fff        // Han
        | 0xac00..=0xd7af        // Hangul syllables
        | 0xf900..=0xfaff        // compatibility ideographs
        | 0x20000..=0x2ebef      // Han extensions B-F
    )
}

#[derive(Clone, Default)]
pub struct WordsAndCjkPairs;

pub struct Stream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for WordsAndCjkPairs {
    type TokenStream<'a> = Stream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Stream {
        let mut tokens = vec![];
        let mut push = |from: usize, to: usize| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: text[from..to].to_string(),
                ..Token::default()
            });
        };
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let end_of = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i].1;
            if !c.is_alphanumeric() {
                i += 1;
                continue;
            }
            // a run of one kind: CJK characters, or other letters and digits
            let cjk = is_cjk(c);
            let mut j = i + 1;
            while j < chars.len() && chars[j].1.is_alphanumeric() && is_cjk(chars[j].1) == cjk {
                j += 1;
            }
            if !cjk || j - i == 1 {
                push(chars[i].0, end_of(j));
            } else {
                for (k, (from, _)) in chars[i..j - 1].iter().enumerate() {
                    push(*from, end_of(i + k + 2));
                }
            }
            i = j;
        }
        Stream { tokens, next: 0 }
    }
}

impl TokenStream for Stream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut a = analyzer();
        let mut s = a.token_stream(text);
        let mut out = vec![];
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn chinese_becomes_pairs_and_english_stays_stemmed_words() {
        assert_eq!(tokens("乐高积木 Lego bricks"), ["乐高", "高积", "积木", "lego", "brick"]);
        assert_eq!(tokens("遥控车，带电池"), ["遥控", "控车", "带电", "电池"]);
        assert_eq!(tokens("熊 teddy"), ["熊", "teddi"]); // a lone character is a token; English is stemmed
        assert_eq!(tokens("LEGO乐高"), ["lego", "乐高"]);
        assert_eq!(tokens("ひらがな カタカナ"), ["ひら", "らが", "がな", "カタ", "タカ", "カナ"]);
    }

    #[test]
    fn english_is_cut_as_before() {
        // the same words tantivy's English analyzer makes
        let mut before = TextAnalyzer::builder(tantivy::tokenizer::SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(Stemmer::new(Language::English))
            .build();
        let text = "Hornby R8206 Track-Extension Pack, 3 years and up: Café trains!";
        let mut s = before.token_stream(text);
        let mut want = vec![];
        while s.advance() {
            want.push(s.token().text.clone());
        }
        assert_eq!(tokens(text), want);
    }
}
