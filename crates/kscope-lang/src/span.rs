//! Byte spans into a script and the source file they point into.

/// A half-open byte range `start..end` into the script text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte of the span.
    pub start: u32,
    /// One past the last byte of the span.
    pub end: u32,
}

impl Span {
    /// A span over `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The span as a `usize` range, for slicing the source.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A script with its display name, and an index of its line starts. A script with
/// `import`s holds the files it imports too ([`crate::imports`]): their texts follow
/// its own, each one a [`Segment`], so that one span space covers them all.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    segments: Vec<Segment>,
    imports: Vec<ImportLink>,
}

/// One file of a [`SourceFile`]: the script itself (the first) or an imported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Its display name (the script's name, or the imported file's path).
    pub name: String,
    /// Where its text starts in the whole text.
    pub start: usize,
    /// Where its text ends.
    pub end: usize,
    /// What it holds.
    pub kind: SegmentKind,
}

/// What an imported file holds, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// A bpftrace script (the importing script, or a `.bt` file).
    Script,
    /// A C header (`.h`): C definitions only.
    Header,
}

/// `import "PATH";` in one segment: the segments the path stands for (one file, or
/// the files of a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLink {
    /// The segment that holds the statement.
    pub importer: usize,
    /// The path as written.
    pub path: String,
    /// The segments imported, in order.
    pub targets: Vec<usize>,
}

impl SourceFile {
    /// A source named `name` (a path, or `stdin`/`-e` for inline programs).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let name = name.into();
        let segments = vec![Segment {
            name: name.clone(),
            start: 0,
            end: text.len(),
            kind: SegmentKind::Script,
        }];
        SourceFile {
            name,
            text,
            line_starts,
            segments,
            imports: Vec::new(),
        }
    }

    /// Appends an imported file (after a line break) and returns its segment index.
    pub(crate) fn push_segment(&mut self, name: String, text: &str, kind: SegmentKind) -> usize {
        self.text.push('\n');
        let start = self.text.len();
        self.line_starts.push(start);
        self.text.push_str(text);
        self.line_starts
            .extend(text.match_indices('\n').map(|(i, _)| start + i + 1));
        self.segments.push(Segment {
            name,
            start,
            end: self.text.len(),
            kind,
        });
        self.segments.len() - 1
    }

    /// Records what `import "path"` in segment `importer` stands for.
    pub(crate) fn push_import(&mut self, link: ImportLink) {
        self.imports.push(link);
    }

    /// The script and the files it imports, the script first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The imports, each with the segments it stands for.
    pub fn imports(&self) -> &[ImportLink] {
        &self.imports
    }

    /// The index of the segment holding byte `offset`.
    pub fn segment_at(&self, offset: usize) -> usize {
        self.segments
            .iter()
            .rposition(|s| s.start <= offset)
            .unwrap_or(0)
    }

    /// The display name of the file holding byte `offset`.
    pub fn name_at(&self, offset: usize) -> &str {
        &self.segments[self.segment_at(offset)].name
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Zero-based line index holding byte `offset` (clamped to the text).
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// The text of line `index` (zero-based) without its line ending.
    pub fn line_text(&self, index: usize) -> &str {
        let start = self.line_starts[index];
        let end = self
            .line_starts
            .get(index + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }

    /// One-based (line, column) of byte `offset` in the file holding it; the column
    /// counts characters.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_char(offset.min(self.text.len()));
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let first = self.line_index(self.segments[self.segment_at(offset)].start);
        (
            line - first + 1,
            self.text[start..offset].chars().count() + 1,
        )
    }

    /// Byte offset where line `index` starts.
    pub fn line_start(&self, index: usize) -> usize {
        self.line_starts[index]
    }

    /// Rounds `offset` down to a character boundary.
    pub fn floor_char(&self, mut offset: usize) -> usize {
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}
