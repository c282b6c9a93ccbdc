//! Tokens of a Tmax environment file (manual 3.1.1 "환경 파일 형식"), each with its line and
//! column, so that every later error can point at the place it comes from.
//!
//! The lexer never fails: what it cannot read becomes an `Error` token, and the parser turns it
//! into a diagnostic. A `#` outside a literal starts a comment to the end of the line.

/// A place in the file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `*NAME`: a section header (the text holds the name without the star).
    Section,
    /// A bare word: a name, an item name or an unquoted value.
    Word,
    /// `"..."`: a literal (the text holds what is between the quotes).
    Literal,
    /// `=`
    Equals,
    /// `,`
    Comma,
    /// `:` (after `DEFAULT`)
    Colon,
    /// Something that cannot be read; the text says why.
    Error,
}

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Its text (see [`Kind`]).
    pub text: String,
    /// Where it starts.
    pub pos: Pos,
}

/// Characters that end a bare word.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '=' | '"' | '#' | ':')
}

/// Splits `src` into tokens.
pub fn tokenize(src: &str) -> Vec<Token> {
    let mut lx = Lexer {
        src,
        i: 0,
        pos: Pos { line: 1, column: 1 },
        // About one token per five bytes in real files.
        out: Vec::with_capacity(src.len() / 5),
    };
    lx.run();
    lx.out
}

/// Walks the text by byte offset (always on a character boundary), counting columns in
/// characters.
struct Lexer<'s> {
    src: &'s str,
    i: usize,
    pos: Pos,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.i..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    fn push(&mut self, kind: Kind, text: String, pos: Pos) {
        self.out.push(Token { kind, text, pos });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '#' => self.skip_comment(),
                '=' | ',' | ':' => {
                    self.bump();
                    let kind = match c {
                        '=' => Kind::Equals,
                        ',' => Kind::Comma,
                        _ => Kind::Colon,
                    };
                    self.push(kind, c.to_string(), start);
                }
                '"' => self.literal(start),
                '*' if start.column == 1 => self.section(start),
                _ => {
                    let w = self.word();
                    self.push(Kind::Word, w, start);
                }
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Characters up to the next one that ends a word (none of them is a newline).
    fn word(&mut self) -> String {
        let from = self.i;
        while let Some(c) = self.peek() {
            if ends_word(c) {
                break;
            }
            self.bump();
        }
        self.src[from..self.i].to_string()
    }

    /// A literal may span lines (the manual's OPENINFO and CLOPT examples do).
    fn literal(&mut self, start: Pos) {
        self.bump();
        let from = self.i;
        loop {
            match self.bump() {
                Some('"') => {
                    let text = self.src[from..self.i - 1].to_string();
                    return self.push(Kind::Literal, text, start);
                }
                Some(_) => {}
                None => {
                    let why = "literal is not closed: add the closing '\"'".to_string();
                    return self.push(Kind::Error, why, start);
                }
            }
        }
    }

    /// `*NAME`, where the manual also writes `* NAME` (3.5.2, 3.8).
    fn section(&mut self, start: Pos) {
        self.bump();
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        let name = self.word();
        self.push(Kind::Section, name, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String, usize, usize)> {
        tokenize(src)
            .into_iter()
            .map(|t| (t.kind, t.text, t.pos.line, t.pos.column))
            .collect()
    }

    #[test]
    fn tokens_carry_line_and_column() {
        let k = kinds("*NODE\ntmax1  TMAXDIR = \"/a\", # c\n  APPDIR=x");
        assert_eq!(k[0], (Kind::Section, "NODE".into(), 1, 1));
        assert_eq!(k[1], (Kind::Word, "tmax1".into(), 2, 1));
        assert_eq!(k[2], (Kind::Word, "TMAXDIR".into(), 2, 8));
        assert_eq!(k[4], (Kind::Literal, "/a".into(), 2, 18));
        assert_eq!(k[5], (Kind::Comma, ",".into(), 2, 22));
        assert_eq!(k[6], (Kind::Word, "APPDIR".into(), 3, 3));
    }

    #[test]
    fn literals_span_lines_and_keep_commas() {
        let k = kinds("x OPENINFO = \"a, b\n c\"");
        assert_eq!(k[3], (Kind::Literal, "a, b\n c".into(), 1, 14));
    }

    #[test]
    fn an_open_literal_is_an_error_token() {
        let k = kinds("x A = \"abc");
        assert_eq!(k[3].0, Kind::Error);
        assert_eq!((k[3].2, k[3].3), (1, 7));
    }

    #[test]
    fn default_label_and_spaced_section() {
        let k = kinds("* SERVICE\nDEFAULT: PRIO = 1");
        assert_eq!(k[0].1, "SERVICE");
        assert_eq!(k[1].1, "DEFAULT");
        assert_eq!(k[2].0, Kind::Colon);
    }
}
