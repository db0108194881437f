//! A trace in one shape, whatever format it came from.

/// An application: its functions share its state (one lmms module per app).
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    /// Its name (the trace's hash).
    pub name: String,
    /// Its average allocated memory, in MB, when the trace gives it.
    pub memory_mb: Option<f64>,
}

impl App {
    /// An app's memory when the trace does not give it, in MB.
    pub const DEFAULT_MB: f64 = 128.0;

    /// Its memory in MB: the trace's, or [`App::DEFAULT_MB`].
    ///
    /// ```
    /// let app = lmms_replay::App { name: "shop".into(), memory_mb: None };
    /// assert_eq!(app.mb(), 128.0);
    /// ```
    pub fn mb(&self) -> f64 {
        self.memory_mb.unwrap_or(Self::DEFAULT_MB)
    }
}

/// A function: one lmms operation, on its app's module.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// Its name (the trace's hash).
    pub name: String,
    /// Its app, an index into [`Trace::apps`].
    pub app: usize,
}

/// One invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// When it starts, in milliseconds from the trace's start.
    pub at_ms: u64,
    /// The function, an index into [`Trace::functions`].
    pub function: usize,
    /// How long it runs, in milliseconds.
    pub duration_ms: u64,
}

/// A whole trace: its apps, functions and invocations, in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The apps.
    pub apps: Vec<App>,
    /// The functions.
    pub functions: Vec<Function>,
    /// The invocations, sorted by start time.
    pub invocations: Vec<Invocation>,
    /// What the reader assumed or merged (a missing memory row, a repeated function row):
    /// accepted, and said.
    pub notes: Vec<String>,
}

impl Trace {
    /// Adds function `name` of app `app` (the app added if new, with `memory_mb` if given);
    /// returns the function's index. For traces built by hand.
    ///
    /// ```
    /// let mut trace = lmms_replay::Trace::default();
    /// let f = trace.add_function("shop", "checkout", Some(256.0));
    /// assert_eq!((f, trace.apps[0].memory_mb), (0, Some(256.0)));
    /// ```
    pub fn add_function(&mut self, app: &str, name: &str, memory_mb: Option<f64>) -> usize {
        let app = self.app(app);
        if memory_mb.is_some() {
            self.apps[app].memory_mb = memory_mb;
        }
        self.functions.push(Function {
            name: name.to_owned(),
            app,
        });
        self.functions.len() - 1
    }

    /// The app of `name`, added if new.
    pub(crate) fn app(&mut self, name: &str) -> usize {
        match self.apps.iter().position(|app| app.name == name) {
            Some(index) => index,
            None => {
                self.apps.push(App {
                    name: name.to_owned(),
                    memory_mb: None,
                });
                self.apps.len() - 1
            }
        }
    }
}
