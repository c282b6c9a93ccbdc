//! The parsed environment file: sections of entries, each entry a name and its items, with
//! `DEFAULT:` items already merged in (manual 3.2.2 "DEFAULT"), every part located in the file.

use super::lexer::Pos;

/// The sections the manual defines (3.1.1, 3.2.7-3.2.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SectionKind {
    /// `*DOMAIN` (3.2.1).
    Domain,
    /// `*NODE` (3.2.2).
    Node,
    /// `*SVRGROUP` (3.2.3).
    SvrGroup,
    /// `*SERVER` (3.2.4).
    Server,
    /// `*SERVICE` (3.2.5).
    Service,
    /// `*GATEWAY` (3.2.6).
    Gateway,
    /// `*ROUTING` (3.2.7, 3.5.2).
    Routing,
    /// `*RQ` (3.2.8): parsed, not checked item by item, not imported.
    Rq,
    /// `*HMS` (3.2.9): parsed, not checked item by item, not imported.
    Hms,
}

impl SectionKind {
    /// The section a header names, if the manual defines it.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "DOMAIN" => SectionKind::Domain,
            "NODE" => SectionKind::Node,
            "SVRGROUP" => SectionKind::SvrGroup,
            "SERVER" => SectionKind::Server,
            "SERVICE" => SectionKind::Service,
            "GATEWAY" => SectionKind::Gateway,
            "ROUTING" => SectionKind::Routing,
            "RQ" => SectionKind::Rq,
            "HMS" => SectionKind::Hms,
            _ => return None,
        })
    }

    /// The header as written in the file.
    pub fn header(self) -> &'static str {
        match self {
            SectionKind::Domain => "*DOMAIN",
            SectionKind::Node => "*NODE",
            SectionKind::SvrGroup => "*SVRGROUP",
            SectionKind::Server => "*SERVER",
            SectionKind::Service => "*SERVICE",
            SectionKind::Gateway => "*GATEWAY",
            SectionKind::Routing => "*ROUTING",
            SectionKind::Rq => "*RQ",
            SectionKind::Hms => "*HMS",
        }
    }
}

/// A value as written: a bare word or a quoted literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The text (without the quotes).
    pub text: String,
    /// Whether it was quoted.
    pub quoted: bool,
    /// Where it starts.
    pub pos: Pos,
}

impl Value {
    /// The value as a list of names: `"svg2, svg3"` gives `svg2` and `svg3` (COUSIN, BACKUP).
    pub fn names(&self) -> Vec<String> {
        self.text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// `NAME = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The item name, upper-cased (item names are case-insensitive: 3.2.10 writes `cousin`).
    pub key: String,
    /// Where the item name starts.
    pub pos: Pos,
    /// Its value.
    pub value: Value,
    /// Whether it came from a `DEFAULT:` label rather than the entry itself.
    pub from_default: bool,
}

/// One named entry of a section: a node, a server group, a server...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name (column 1).
    pub name: String,
    /// Where the name is.
    pub pos: Pos,
    /// Its items, the entry's own first, then those inherited from `DEFAULT:`.
    pub items: Vec<Item>,
}

impl Entry {
    /// The item named `key` (upper case), if given.
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.key == key)
    }

    /// The text of item `key`, if given.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key).map(|i| i.value.text.as_str())
    }
}

/// A section as it appears in the file (a section may appear several times: 3.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Which section.
    pub kind: SectionKind,
    /// Where its header is.
    pub pos: Pos,
    /// Its entries, in order.
    pub entries: Vec<Entry>,
}

/// A whole environment file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// The sections in file order.
    pub sections: Vec<Section>,
}

impl EnvFile {
    /// Every entry of one kind of section, across repeated sections, in file order.
    pub fn entries(&self, kind: SectionKind) -> impl Iterator<Item = &Entry> {
        self.sections
            .iter()
            .filter(move |s| s.kind == kind)
            .flat_map(|s| s.entries.iter())
    }

    /// The first entry of `kind` named `name`.
    pub fn find(&self, kind: SectionKind, name: &str) -> Option<&Entry> {
        self.entries(kind).find(|e| e.name == name)
    }
}
