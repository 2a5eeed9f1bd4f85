"""Files and images: storage (a directory or any S3), type sniffing, signed links, and the
asset library's operations (docs/files.md). Below the privacy engine, which erases files,
and above the data layer whose asset rows it keeps."""
