//! What a module and an operation are, before any state: their static descriptors
//! ([`ModuleDef`], [`OpDef`]) and the module classes the unload rules tell apart.

use crate::error::Error;
use crate::name::Name;
use std::fmt;
use std::panic::Location;
use std::str::FromStr;
use std::time::Duration;

/// Which unload rules apply to a module.
///
/// ```
/// use lmms::Class;
/// assert_eq!("feature".parse::<Class>().unwrap(), Class::Feature);
/// assert_eq!(Class::default(), Class::Utility);
/// assert!("sometimes".parse::<Class>().unwrap_err().to_string().contains("`core`, `utility` or `feature`"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Class {
    /// Never unloaded by a sweep: gateway-level infrastructure (logging, the cache).
    Core,
    /// Unloaded by a sweep once all five checks pass: idle past the grace period, and more
    /// modules resident than the minimum.
    #[default]
    Utility,
    /// Unloaded as soon as its last guard drops, unless pinned or depended on; the grace
    /// period and the resident minimum do not hold it.
    Feature,
}

impl Class {
    /// The class's name as the attribute spells it.
    ///
    /// ```
    /// assert_eq!(lmms::Class::Core.as_str(), "core");
    /// ```
    pub const fn as_str(self) -> &'static str {
        lmms_values::CLASSES[self as usize]
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        const CLASSES: [Class; 3] = [Class::Core, Class::Utility, Class::Feature];
        lmms_values::class(text)
            .map(|index| CLASSES[index])
            .map_err(|invalid| Error::invalid("class", invalid.reason()))
    }
}

/// A module's name, class and grace period.
///
/// ```
/// use lmms::{Class, ModuleDef};
/// use std::time::Duration;
///
/// const WEATHER: ModuleDef = ModuleDef::new("weather").class(Class::Feature).grace(Duration::from_secs(5));
/// assert_eq!(WEATHER.name(), "weather");
/// ```
#[derive(Clone, Debug)]
pub struct ModuleDef {
    name: Name,
    class: Class,
    grace: Option<Duration>,
    /// Where it was made: the `static` or the `#[lmms::module]` that declares the module,
    /// or the call that registers a run-time one. Errors name it.
    at: &'static Location<'static>,
}

impl ModuleDef {
    /// A utility module named `name`, with the runtime's grace period.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("cache").name(), "cache");
    /// ```
    #[track_caller]
    pub const fn new(name: &'static str) -> Self {
        ModuleDef {
            name: Name::new(name),
            class: Class::Utility,
            grace: None,
            at: Location::caller(),
        }
    }

    /// A module whose name is only known at run time (a plugin, a module from a trace).
    ///
    /// ```
    /// let def = lmms::ModuleDef::named(format!("app-{}", 7));
    /// assert_eq!(def.name(), "app-7");
    /// ```
    #[track_caller]
    pub fn named(name: impl Into<String>) -> Self {
        ModuleDef {
            name: Name::from(name.into()),
            class: Class::Utility,
            grace: None,
            at: Location::caller(),
        }
    }

    /// Sets the class (default [`Class::Utility`]).
    ///
    /// ```
    /// let def = lmms::ModuleDef::new("logging").class(lmms::Class::Core);
    /// assert_eq!(def.class_of(), lmms::Class::Core);
    /// ```
    pub const fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }

    /// Overrides the runtime's grace period for this module.
    ///
    /// ```
    /// let def = lmms::ModuleDef::new("models").grace(std::time::Duration::from_secs(600));
    /// assert_eq!(def.grace_of(), Some(std::time::Duration::from_secs(600)));
    /// ```
    pub const fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The module's name.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("http").name(), "http");
    /// ```
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Where the module is declared: the file and line of the `static` (or the
    /// `#[lmms::module]`) that made this definition, or of the call that made it for a
    /// module registered at run time.
    ///
    /// ```
    /// static HTTP: lmms::ModuleDef = lmms::ModuleDef::new("http");
    /// let (file, line) = HTTP.location();
    /// assert!(file.ends_with(".rs") && line > 0);
    /// ```
    pub fn location(&self) -> (&'static str, u32) {
        (self.at.file(), self.at.line())
    }

    /// The module's class.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("http").class_of(), lmms::Class::Utility);
    /// ```
    pub const fn class_of(&self) -> Class {
        self.class
    }

    /// The module's own grace period, if it overrides the runtime's.
    ///
    /// ```
    /// assert_eq!(lmms::ModuleDef::new("http").grace_of(), None);
    /// ```
    pub const fn grace_of(&self) -> Option<Duration> {
        self.grace
    }
}

/// An operation's interface and name: its key.
///
/// ```
/// const DEF: lmms::op::OpDef = lmms::op::OpDef::new("weather", "forecast");
/// assert_eq!((DEF.interface(), DEF.name()), ("weather", "forecast"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpDef {
    /// The interface, or the path of the Rust module it is named after.
    interface: &'static str,
    from_path: bool,
    name: &'static str,
}

impl OpDef {
    /// The operation `name` of `interface`.
    ///
    /// ```
    /// assert_eq!(lmms::op::OpDef::new("http", "get").name(), "get");
    /// ```
    pub const fn new(interface: &'static str, name: &'static str) -> Self {
        OpDef {
            interface,
            from_path: false,
            name,
        }
    }

    /// The operation `name` of the interface named after the Rust module that holds the
    /// module at `module_path` (as `module_path!()` gives it inside the module
    /// `#[lmms::operation]` generates): that holder's name, or `crate` at the crate's root.
    /// The attribute uses this when no `interface` is given.
    ///
    /// ```
    /// let def = lmms::op::OpDef::generated_in("app::weather::forecast", "forecast");
    /// assert_eq!(def.interface(), "weather");
    /// assert_eq!(lmms::op::OpDef::generated_in("app::health", "health").interface(), "crate");
    /// ```
    pub const fn generated_in(module_path: &'static str, name: &'static str) -> Self {
        OpDef {
            interface: module_path,
            from_path: true,
            name,
        }
    }

    /// The interface.
    ///
    /// ```
    /// assert_eq!(lmms::op::OpDef::new("http", "get").interface(), "http");
    /// ```
    pub fn interface(&self) -> &'static str {
        if !self.from_path {
            return self.interface;
        }
        // `crate::…::holder::generated`: the holder is the second segment from the end,
        // unless it is the crate itself.
        let mut segments = self.interface.rsplit("::").skip(1);
        match (segments.next(), segments.next()) {
            (Some(holder), Some(_)) => holder,
            _ => "crate",
        }
    }

    /// The operation's name within its interface.
    ///
    /// ```
    /// assert_eq!(lmms::op::OpDef::new("http", "get").name(), "get");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// `interface.name`, as errors, events and the figures name an operation.
///
/// ```
/// assert_eq!(lmms::op::OpDef::new("weather", "forecast").to_string(), "weather.forecast");
/// ```
impl fmt::Display for OpDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.interface(), self.name)
    }
}
