import Foundation

/// Words a Foundation file operation's failure the way the system does ("Not a directory", "No
/// space left on device"): on Linux Foundation's own text is "The operation could not be
/// completed. (NSCocoaErrorDomain error 512.)", which names neither the cause nor a fix.
public enum FileSystemFailure {
    public static func reason(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let nsError = error as NSError
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? any Error { return reason(underlying) }
        guard nsError.domain == NSCocoaErrorDomain else { return "\(error)" }
        switch CocoaError.Code(rawValue: nsError.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return String(cString: strerror(ENOENT))
        case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
        case .fileWriteOutOfSpace: return String(cString: strerror(ENOSPC))
        case .fileWriteFileExists: return String(cString: strerror(EEXIST))
        case .fileWriteVolumeReadOnly: return String(cString: strerror(EROFS))
        case .fileReadCorruptFile, .fileReadInapplicableStringEncoding: return "unreadable contents"
        default: return "file operation failed"
        }
    }

    /// Whether `error` is one of Foundation's file-system errors (so `reason` and `path` apply).
    public static func matches(_ error: any Error) -> Bool {
        let nsError = error as NSError
        return error is POSIXError || nsError.domain == NSPOSIXErrorDomain || nsError.domain == NSCocoaErrorDomain
    }

    /// The path Foundation recorded with the error, if any.
    public static func path(_ error: any Error) -> String? {
        let info = (error as NSError).userInfo
        return info[NSFilePathErrorKey] as? String ?? (info[NSURLErrorKey] as? URL)?.path
    }
}
