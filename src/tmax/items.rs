//! The items each section may hold, with the size, range or choices the manual states for
//! them (section numbers in the comments). `check` validates every item against this table;
//! an item not in it is an error (NST0010), because a misspelt item (the manual's own
//! `SVRNMAE`, 3.5.1) would otherwise be dropped without a word.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::model::SectionKind;

/// MAX_INT in the manual's ranges: a C `int`.
pub const MAX_INT: i64 = i32::MAX as i64;

/// What a value must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// A whole number within `min..=max`.
    Num(i64, i64),
    /// A permission mask written in octal (IPCPERM 0600 ~ 0777).
    Octal(i64, i64),
    /// A name of at most this many characters.
    Name(usize),
    /// A string or literal of at most this many characters.
    Text(usize),
    /// A comma-separated list of names, at most this many characters in all (COUSIN, BACKUP).
    Names(usize),
    /// `Y` or `N`.
    Yn,
    /// `Y`, `B` or `N`.
    Ybn,
    /// One of these words.
    Choice(&'static [&'static str]),
}

use Spec::*;

const PORT: Spec = Num(1, 65535);
const LOGLVL: Spec = Choice(&[
    "COMPACT", "BASIC", "DETAIL", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4",
]);
const ANY: Spec = Text(usize::MAX);

/// 3.2.1 DOMAIN.
const DOMAIN: &[(&str, Spec)] = &[
    ("SHMKEY", Num(32768, 262143)),
    ("MAXUSER", Num(1, MAX_INT)),
    ("MINCLH", Num(1, 10)),
    ("MAXCLH", Num(1, 10)),
    ("TPORTNO", PORT),
    ("RACPORT", PORT),
    // "범위 1 ~ MAX_INT, 기본값 0": 0, the default, may be written too.
    ("BLOCKTIME", Num(0, MAX_INT)),
    ("CPC", Num(1, 128)),
    ("MAXFUNC", Num(0, MAX_INT)),
    ("LOGOUTSVC", Name(15)),
    ("CLICHKINT", Num(0, MAX_INT)),
    ("IDLETIME", Num(0, MAX_INT)),
    ("MAXSACALL", Num(1, 1024)),
    ("MAXCACALL", Num(1, 1024)),
    ("TXTIME", Num(0, MAX_INT)),
    ("NLIVEINQ", Num(1, MAX_INT)),
    ("NCLHCHKTIME", Num(0, MAX_INT)),
    ("MAXCONV_NODE", Num(1, 2048)),
    ("MAXCONV_SERVER", Num(1, 256)),
    (
        "SECURITY",
        Choice(&["NO_SECURITY", "DOMAIN_SEC", "USER_AUTH", "ACL", "MANDATORY"]),
    ),
    ("OWNER", Name(15)),
    ("IPCPERM", Octal(0o600, 0o777)),
    ("DOMAINID", Num(0, 255)),
    ("CMTRET", Yn),
    ("MAXNODE", Num(1, MAX_INT)),
    ("MAXSVG", Num(1, MAX_INT)),
    ("MAXSPR", Num(1, MAX_INT)),
    ("MAXSVR", Num(1, MAX_INT)),
    ("MAXSVC", Num(1, MAX_INT)),
    ("MAXCPC", Num(0, 65535)),
    ("MAXTMS", Num(1, MAX_INT)),
    ("MAXROUT", Num(1, MAX_INT)),
    ("MAXROUTSVG", Num(1, MAX_INT)),
    ("MAXRQ", Num(1, MAX_INT)),
    ("MAXGW", Num(1, MAX_INT)),
    ("MAXCOUSIN", Num(1, MAX_INT)),
    ("MAXCOUSINSVG", Num(1, MAX_INT)),
    ("MAXBACKUP", Num(1, MAX_INT)),
    ("MAXBACKUPSVG", Num(1, MAX_INT)),
    ("MAXTOTALSVG", Num(1, MAX_INT)),
    ("MAXPROD", Num(0, MAX_INT)),
    ("GWCHKINT", Num(1, MAX_INT)),
    ("GWCONNECT_TIMEOUT", Num(1, MAX_INT)),
    ("TMMLOGLVL", LOGLVL),
    ("CLHLOGLVL", LOGLVL),
    ("TMSLOGLVL", LOGLVL),
    ("LOGLVL", LOGLVL),
    ("CRYPT", Yn),
    ("MAXTHREAD", Num(0, MAX_INT)),
    ("TDL", Yn),
    ("MAXSESSION", Num(1, 65535)),
    ("TXPENDINGTIME", Num(0, MAX_INT)),
    ("CLIENT_IPV6", Yn),
    ("SYSTEM_IPV6", Yn),
    ("EXTSVR_IPV6", Yn),
    ("CLL_BIND_IP", Yn),
    ("FDL_VERSION", Num(1, 2)),
];

/// 3.2.2 NODE, with the DOMAIN items it may redefine ("재정의 가능 항목") and 3.8.2.
const NODE: &[(&str, Spec)] = &[
    ("TMAXDIR", Text(255)),
    ("APPDIR", Text(255)),
    ("HOSTNAME", Text(255)),
    ("TMAXHOME", Text(255)),
    ("NODETYPE", Choice(&["SHM_RACD", "SHM_USER"])),
    ("PATHDIR", Text(255)),
    ("SLOGDIR", Text(255)),
    ("TLOGDIR", Text(255)),
    ("ULOGDIR", Text(255)),
    ("DOMAINNAME", Name(15)),
    ("CLHQTIMEOUT", Num(1, MAX_INT)),
    ("ENVFILE", Text(255)),
    ("SHMKEY", Num(32768, 262143)),
    ("MAXUSER", Num(1, MAX_INT)),
    ("MINCLH", Num(1, 10)),
    ("MAXCLH", Num(1, 10)),
    ("TPORTNO", PORT),
    ("TPORTNO2", PORT),
    ("TPORTNO3", PORT),
    ("TPORTNO4", PORT),
    ("TPORTNO5", PORT),
    ("RACPORT", PORT),
    ("IPCPERM", Octal(0o600, 0o777)),
    ("IP", Text(255)),
    ("CLICHKINT", Num(0, MAX_INT)),
    ("IDLETIME", Num(0, MAX_INT)),
    ("TMMOPT", Text(255)),
    ("TLMOPT", Text(255)),
    ("CLHOPT", ANY),
    ("REALSVR", ANY),
    ("RSCPC", Num(1, 128)),
    ("MAXSVG", Num(1, 128)),
    ("MAXSPR", Num(1, MAX_INT)),
    ("MAXSVR", Num(1, MAX_INT)),
    ("MAXTMS", Num(1, 128)),
    ("MAXCPC", Num(0, 128)),
    ("MAXGWSVR", Num(1, 128)),
    ("MAXRQSVR", Num(1, 128)),
    ("MAXGWCPC", Num(1, 128)),
    ("AUTOBACKUP", Yn),
    ("LOGOUTSVC", Name(15)),
    ("TMAXPORT", ANY),
    ("COMPRESSPORT", ANY),
    ("COMPRESSSIZE", Num(0, MAX_INT)),
    ("RESTART", Yn),
    // 3.8.2: MAXRSTART -1 ~ MAX_INT (-1: unlimited), GPERIOD 1 ~ MAX_INT seconds.
    ("MAXRSTART", Num(-1, MAX_INT)),
    ("GPERIOD", Num(1, MAX_INT)),
    ("TMMLOGLVL", LOGLVL),
    ("CLHLOGLVL", LOGLVL),
    ("TMSLOGLVL", LOGLVL),
    ("LOGLVL", LOGLVL),
    ("EXTPORT", PORT),
    ("EXTCLHPORT", ANY),
    ("SMSUPPORT", Yn),
    ("SMTBLSIZE", Num(1024, MAX_INT)),
    ("CLLBLOCK", Yn),
    ("CLLUNBLKPORT", ANY),
    ("CLLBLOCKTIME", Num(-MAX_INT, MAX_INT)),
    // "그 외의 값을 대입하면 기본값인 Round Robin": any value is accepted.
    ("CLLCONNLB", ANY),
    ("CRYPTPORT", ANY),
    ("TRB", Name(15)),
    ("MAXSESSION", Num(1, 65535)),
    ("SQKEY", Num(32768, 262143)),
    ("SQSIZE", Num(4, 4_000_000)),
    ("SQMAX", Num(2, MAX_INT - 1)),
    ("SQKEYMAX", Num(1, MAX_INT)),
    ("SQTIMEOUT", Num(1, MAX_INT)),
    ("TDL", Yn),
    ("CLIENT_IPV6", Yn),
    ("SYSTEM_IPV6", Yn),
    ("EXTSVR_IPV6", Yn),
    ("CLL_BIND_IP", Yn),
];

/// 3.2.3 SVRGROUP, 3.5.1 (LOAD) and 3.8 (BACKUP, RESTART).
const SVRGROUP: &[(&str, Spec)] = &[
    ("NODENAME", Name(15)),
    ("APPDIR", Text(255)),
    ("ULOGDIR", Text(255)),
    (
        "SVGTYPE",
        Choice(&["TMAX", "EXTSVG", "MTMAX", "STMAX", "HMS", "RQMGR"]),
    ),
    // 3.2.3: COUSIN and BACKUP literals of at most 8000 characters.
    ("COUSIN", Names(8000)),
    ("BACKUP", Names(8000)),
    // 3.2.3 describes -1, -2, -3, 0 and > 0 (3.5.1 says -1 ~ MAX_INT, before -2 and -3).
    ("LOAD", Num(-3, MAX_INT)),
    ("DBNAME", Name(63)),
    ("OPENINFO", Text(255)),
    ("CLOSEINFO", Text(255)),
    ("MINTMS", Num(1, 16)),
    ("MAXTMS", Num(1, 16)),
    ("TMSNAME", Name(15)),
    ("ENVFILE", Text(255)),
    ("XAOPTION", ANY),
    ("CPC", Num(1, 128)),
    ("RESTART", Yn),
    ("MAXRSTART", Num(-1, MAX_INT)),
    ("GPERIOD", Num(1, MAX_INT)),
    ("TMSLOGLVL", LOGLVL),
    ("LOGLVL", LOGLVL),
    ("TMSRECOVERY", Yn),
    ("TMSDEP", ANY),
    ("TMSRANGE", Choice(&["DOMAIN", "NODE"])),
    ("TMSTYPE", Choice(&["STD", "STD_MT"])),
    ("TMSTHREAD", Num(1, MAX_INT)),
    ("TMSOPT", ANY),
    ("TMSXATIME", Num(0, MAX_INT)),
    ("DUMMY", Yn),
    ("HMSNAME", Name(15)),
    ("HMSINDEX", Num(0, 65535)),
    ("HMSMAXTHR", Num(0, 65535)),
    ("HMSMAXDBTHR", Num(0, 65535)),
    ("HMSMAXBULKTHR", Num(1, 65535)),
    ("HMSMAXBULKSIZE", Num(2, 65535)),
    ("HMSOPT", Text(255)),
    ("HMSSUBSCFG", Text(255)),
    ("HMSMSGLIVE", Num(0, 65535)),
    ("HMSPORT", PORT),
    ("HMSHEARTBEAT", Num(0, 65535)),
    ("HMSGQINT", Num(0, 65535)),
];

/// 3.2.4 SERVER and 3.8.2.
const SERVER: &[(&str, Spec)] = &[
    ("SVGNAME", Name(15)),
    ("CLOPT", Text(255)),
    // "범위 1 ~ MAX_INT", yet LIFESPAN (3.2.4) describes MIN = 0 (started on demand).
    ("MIN", Num(0, MAX_INT)),
    ("MAX", Num(1, MAX_INT)),
    ("CONV", Ybn),
    ("ASQCOUNT", Num(0, MAX_INT)),
    ("MAXQCOUNT", Num(-1, MAX_INT)),
    (
        "SVRTYPE",
        Choice(&[
            "STD",
            "UCS",
            "CUSTOM_GATEWAY",
            "STD_DYN",
            "UCS_DYN",
            "REALSVR",
            "REALSVR_MT",
            "EXTSVR",
            "STD_MT",
        ]),
    ),
    ("CPC", Num(1, 128)),
    ("MINTHR", Num(0, 1000)),
    ("MAXTHR", Num(1, 1000)),
    ("STACKSIZE", Num(0, MAX_INT)),
    ("ULOGDIR", Text(255)),
    ("RESTART", Yn),
    ("MAXRSTART", Num(-1, MAX_INT)),
    ("GPERIOD", Num(1, MAX_INT)),
    ("TARGET", Name(15)),
    ("AUTOTRAN", Ybn),
    ("SCHEDULE", Choice(&["FA", "RR"])),
    ("LIFESPAN", ANY),
    ("LOGLVL", LOGLVL),
    ("DUMMY", Yn),
    ("MAX_USE_COUNT", ANY),
    ("CTX_EREPLY", Yn),
    ("MULTICLH", Yn),
    ("AUS", Yn),
    ("TMAPM", Yn),
    ("MAC", Yn),
    ("ROC", Yn),
];

/// 3.2.5 SERVICE.
const SERVICE: &[(&str, Spec)] = &[
    ("SVRNAME", Name(15)),
    ("FUNCTION", ANY),
    ("PRIO", Num(1, 100)),
    ("ROUTING", Name(15)),
    ("SVCTIME", Num(0, MAX_INT)),
    ("EXPORT", Yn),
    ("AUTOTRAN", Ybn),
    ("TXTIME", Num(0, MAX_INT)),
];

/// 3.2.6 GATEWAY.
const GATEWAY: &[(&str, Spec)] = &[
    // A literal of 255 characters, but it must name a NODE entry (15 characters at most).
    ("NODENAME", Name(15)),
    ("PORTNO", PORT),
    ("RGWADDR", Text(255)),
    ("RGWPORTNO", PORT),
    (
        "GWTYPE",
        Choice(&[
            "TMAX",
            "TMAXNONTX",
            "SNACICS",
            "OSITP",
            "JEUS",
            "JEUS_ASYNC",
            "TUXEDO",
            "TUXEDO_ASYNC",
            "WSGW",
            "XAGW",
        ]),
    ),
    ("MAXINRGW", Num(1, 128)),
    ("CPC", Num(1, 128)),
    ("COUSIN", Names(8000)),
    ("BACKUP", Names(7999)),
    ("BACKUP_RGWADDR", Text(255)),
    ("BACKUP_RGWPORTNO", PORT),
    ("BACKUP_RGWADDR2", Text(255)),
    ("BACKUP_RGWPORTNO2", PORT),
    ("BACKUP_RGWADDR3", Text(255)),
    ("BACKUP_RGWPORTNO3", PORT),
    ("LOCAL_IPV6", Yn),
    ("RGW_IPV6", Yn),
    ("RGW_B1_IPV6", Yn),
    ("RGW_B2_IPV6", Yn),
    ("RGW_B3_IPV6", Yn),
    ("TIMEOUT", Num(0, MAX_INT)),
    ("DIRECTION", Choice(&["BIDIR", "IN", "OUT"])),
    ("CLOPT", Text(255)),
    ("RESTART", Yn),
    ("MAXRSTART", Num(-1, MAX_INT)),
    ("GPERIOD", Num(1, MAX_INT)),
    ("LOAD", Num(-3, MAX_INT)),
    // "범위 1 ~ MAX_INT/2, 기본값 -1".
    ("PTIMEOUT", Num(-1, MAX_INT / 2)),
    ("PTIMEINT", Num(-1, MAX_INT / 2)),
    ("GWCHKINT", Num(-1, MAX_INT)),
    ("GWCONNECT_TIMEOUT", Num(-1, MAX_INT)),
    ("NLIVEINQ", Num(-1, MAX_INT)),
    ("TRB", Name(15)),
];

/// 3.5.2 ROUTING.
const ROUTING: &[(&str, Spec)] = &[
    ("FIELD", Text(2000)),
    ("RANGES", Text(2047)),
    ("MATCH", Choice(&["FIRST", "MULTIPLE"])),
];

/// The items a section may hold; `None` for sections whose items nonstop does not check.
pub fn table(kind: SectionKind) -> Option<&'static [(&'static str, Spec)]> {
    Some(match kind {
        SectionKind::Domain => DOMAIN,
        SectionKind::Node => NODE,
        SectionKind::SvrGroup => SVRGROUP,
        SectionKind::Server => SERVER,
        SectionKind::Service => SERVICE,
        SectionKind::Gateway => GATEWAY,
        SectionKind::Routing => ROUTING,
        SectionKind::Rq | SectionKind::Hms => return None,
    })
}

/// The spec of item `key` in a section, if the manual defines it there.
pub fn spec(kind: SectionKind, key: &str) -> Option<Spec> {
    /// One map per section, built on first use: a lookup per item of a large file.
    static INDEX: OnceLock<HashMap<SectionKind, HashMap<&'static str, Spec>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let kinds = [
            SectionKind::Domain,
            SectionKind::Node,
            SectionKind::SvrGroup,
            SectionKind::Server,
            SectionKind::Service,
            SectionKind::Gateway,
            SectionKind::Routing,
        ];
        let map = |k| table(k).unwrap_or_default().iter().copied().collect();
        kinds.into_iter().map(|k| (k, map(k))).collect()
    });
    index.get(&kind)?.get(key).copied()
}

/// The mandatory items of a section ("필수 항목").
pub fn required(kind: SectionKind) -> &'static [&'static str] {
    match kind {
        SectionKind::Domain => &["SHMKEY"],
        SectionKind::Node => &["TMAXDIR", "APPDIR"],
        SectionKind::SvrGroup => &["NODENAME"],
        SectionKind::Server => &["SVGNAME"],
        SectionKind::Service => &["SVRNAME"],
        SectionKind::Gateway => &["NODENAME", "PORTNO", "RGWADDR", "RGWPORTNO", "GWTYPE"],
        SectionKind::Routing => &["FIELD", "RANGES"],
        SectionKind::Rq | SectionKind::Hms => &[],
    }
}

/// The longest entry name a section allows: 15 characters in every section the manual sizes
/// (Domain Name 3.2.1, Node Name 3.2.2, SVRGROUP Name 3.2.3, Server Name 3.2.4, Service Name
/// 3.2.5, Gateway Name 3.2.6, ROUTING Name 3.5.2).
pub const NAME_LIMIT: usize = 15;
