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

    /// The trace of the apps in `apps` alone (indices into [`Trace::apps`]), their
    /// functions and invocations renumbered: the functions of one fold.
    ///
    /// ```
    /// let mut trace = lmms_replay::Trace::default();
    /// let a = trace.add_function("a", "f", None);
    /// let b = trace.add_function("b", "g", None);
    /// for (at_ms, function) in [(0, a), (5, b), (9, a)] {
    ///     trace.invocations.push(lmms_replay::Invocation { at_ms, function, duration_ms: 1 });
    /// }
    /// let only_b = trace.subset(&[1]);
    /// assert_eq!((only_b.apps.len(), only_b.functions.len(), only_b.invocations.len()), (1, 1, 1));
    /// assert_eq!(only_b.invocations[0].function, 0);
    /// ```
    pub fn subset(&self, apps: &[usize]) -> Trace {
        let mut app_index = vec![None; self.apps.len()];
        let mut trace = Trace::default();
        for &app in apps {
            if app_index[app].is_none() {
                app_index[app] = Some(trace.apps.len());
                trace.apps.push(self.apps[app].clone());
            }
        }
        let mut function_index = vec![None; self.functions.len()];
        for (i, function) in self.functions.iter().enumerate() {
            if let Some(app) = app_index[function.app] {
                function_index[i] = Some(trace.functions.len());
                trace.functions.push(Function {
                    name: function.name.clone(),
                    app,
                });
            }
        }
        trace.invocations = self
            .invocations
            .iter()
            .filter_map(|invocation| {
                function_index[invocation.function].map(|function| Invocation {
                    function,
                    ..*invocation
                })
            })
            .collect();
        trace
    }

    /// The invocations that start in `[from_ms, to_ms)`, their times made relative to
    /// `from_ms`: a part of the day. Every app and function stays.
    ///
    /// ```
    /// let mut trace = lmms_replay::Trace::default();
    /// let f = trace.add_function("a", "f", None);
    /// for at_ms in [0, 10, 20] {
    ///     trace.invocations.push(lmms_replay::Invocation { at_ms, function: f, duration_ms: 1 });
    /// }
    /// let later = trace.window(10, 30);
    /// assert_eq!(later.invocations.iter().map(|i| i.at_ms).collect::<Vec<_>>(), [0, 10]);
    /// ```
    pub fn window(&self, from_ms: u64, to_ms: u64) -> Trace {
        Trace {
            apps: self.apps.clone(),
            functions: self.functions.clone(),
            invocations: self
                .invocations
                .iter()
                .filter(|invocation| (from_ms..to_ms).contains(&invocation.at_ms))
                .map(|invocation| Invocation {
                    at_ms: invocation.at_ms - from_ms,
                    ..*invocation
                })
                .collect(),
            notes: Vec::new(),
        }
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
