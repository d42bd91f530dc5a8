import CGPGME
import Foundation
import OCI

/// OpenPGP signing and verification through libgpgme, with the user's keyring (`GNUPGHOME`) or a
/// throwaway keyring holding only given public keys (a policy's `keyPath`, `--public-key-file`).
/// Signatures are binary (not armored) signed messages, as containers/image writes them.
public enum GPG {
    private static let initialised: Bool = {
        let offset = MemoryLayout<_gpgme_signature>.offset(of: \_gpgme_signature.validity) ?? 0
        return gpgme_check_version_internal(nil, offset) != nil
    }()

    /// Signs `payload` with the secret key `fingerprint`; `passphrase` answers gpg's question
    /// (loopback pinentry) when the key has one.
    public static func sign(_ payload: [UInt8], fingerprint: String, passphrase: String? = nil, homeDirectory: String? = nil) throws(SignatureError)
        -> [UInt8]
    {
        let context = try Context(homeDirectory: homeDirectory)
        var key: gpgme_key_t?
        try check(gpgme_get_key(context.ctx, fingerprint, &key, 1), "no secret key \(fingerprint)")
        defer { gpgme_key_unref(key) }
        try check(gpgme_signers_add(context.ctx, key), "cannot use key \(fingerprint)")
        let box = passphrase.map { PassphraseBox($0) }
        if let box {
            gpgme_set_pinentry_mode(context.ctx, GPGME_PINENTRY_MODE_LOOPBACK)
            gpgme_set_passphrase_cb(context.ctx, passphraseCallback, Unmanaged.passUnretained(box).toOpaque())
        }
        let plain = try Data_(payload)
        let signature = try Data_()
        try withExtendedLifetime(box) { () throws(SignatureError) in
            try check(gpgme_op_sign(context.ctx, plain.data, signature.data, GPGME_SIG_MODE_NORMAL), "signing with \(fingerprint) failed")
        }
        return signature.bytes()
    }

    /// Verifies a signed message and returns what it signs and the signing key's fingerprint.
    /// With `publicKeys` (OpenPGP key files), only those keys are trusted; otherwise the keyring's.
    public static func verify(_ signature: [UInt8], publicKeys: [[UInt8]]? = nil) throws(SignatureError) -> (payload: [UInt8], fingerprint: String) {
        var scratch: String?
        if let publicKeys {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-gpg-\(UUID().uuidString.prefix(8))").path
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw .gpg("cannot create a temporary keyring: \(FileSystemFailure.reason(error))")
            }
            scratch = directory
            let importer = try Context(homeDirectory: directory)
            for key in publicKeys {
                let data = try Data_(key)
                try check(gpgme_op_import(importer.ctx, data.data), "cannot import the public key")
                guard let result = gpgme_op_import_result(importer.ctx), result.pointee.considered > 0, result.pointee.no_user_id == 0 || result.pointee.imported > 0 else {
                    throw .gpg("the public key file holds no key")
                }
            }
        }
        defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
        let context = try Context(homeDirectory: scratch)
        let signed = try Data_(signature)
        let plain = try Data_()
        try check(gpgme_op_verify(context.ctx, signed.data, nil, plain.data), "Invalid GPG signature")
        guard let result = gpgme_op_verify_result(context.ctx), let first = result.pointee.signatures else {
            throw .gpg("Invalid GPG signature: not a signed message")
        }
        guard first.pointee.next == nil else { throw .gpg("Invalid GPG signature: more than one signature") }
        let status = first.pointee.status
        guard status == 0, first.pointee.validity != GPGME_VALIDITY_NEVER, first.pointee.validity_reason == 0 else {
            throw .gpg("Invalid GPG signature: \(status == 0 ? "the key is not valid" : message(status))")
        }
        let expiredOrRevoked = UInt64(GPGME_SIGSUM_KEY_REVOKED.rawValue | GPGME_SIGSUM_KEY_EXPIRED.rawValue | GPGME_SIGSUM_SIG_EXPIRED.rawValue)
        guard UInt64(first.pointee.summary.rawValue) & expiredOrRevoked == 0 else {
            throw .gpg("Invalid GPG signature: the key or signature expired or was revoked")
        }
        let fingerprint = first.pointee.fpr.map { String(cString: $0) } ?? ""
        return (plain.bytes(), fingerprint)
    }

    // MARK: plumbing

    private final class Context {
        let ctx: gpgme_ctx_t

        init(homeDirectory: String?) throws(SignatureError) {
            guard GPG.initialised else { throw .gpg("libgpgme failed to initialise") }
            var made: gpgme_ctx_t?
            try GPG.check(gpgme_new(&made), "cannot create a context")
            ctx = made!
            gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP)
            gpgme_set_armor(ctx, 0)
            if let homeDirectory {
                try GPG.check(gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, nil, homeDirectory), "cannot use \(homeDirectory)")
            }
        }

        deinit { gpgme_release(ctx) }
    }

    private final class Data_ {
        var data: gpgme_data_t?
        private var released = false

        init(_ bytes: [UInt8]? = nil) throws(SignatureError) {
            if let bytes {
                let error = bytes.withUnsafeBytes { buffer in
                    gpgme_data_new_from_mem(&data, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, 1)
                }
                try GPG.check(error, "cannot buffer data")
            } else {
                try GPG.check(gpgme_data_new(&data), "cannot buffer data")
            }
        }

        func bytes() -> [UInt8] {
            var length = 0
            guard let memory = gpgme_data_release_and_get_mem(data, &length) else {
                released = true
                return []
            }
            released = true
            defer { gpgme_free(memory) }
            return Array(UnsafeRawBufferPointer(start: memory, count: length))
        }

        deinit { if !released { gpgme_data_release(data) } }
    }

    private final class PassphraseBox {
        let line: [UInt8]
        init(_ passphrase: String) { line = Array((passphrase + "\n").utf8) }
    }

    private static let passphraseCallback: gpgme_passphrase_cb_t = { hook, _, _, previousWasBad, fd in
        guard let hook, previousWasBad == 0 else { return gpgme_error_t(GPG_ERR_BAD_PASSPHRASE.rawValue) | (gpgme_error_t(GPG_ERR_SOURCE_GPGME.rawValue) << 24) }
        let box = Unmanaged<PassphraseBox>.fromOpaque(hook).takeUnretainedValue()
        _ = box.line.withUnsafeBytes { gpgme_io_writen(fd, $0.baseAddress, $0.count) }
        return 0
    }

    fileprivate static func check(_ error: gpgme_error_t, _ what: String) throws(SignatureError) {
        guard error != 0 else { return }
        throw .gpg("\(what): \(message(error))")
    }

    private static func message(_ error: gpgme_error_t) -> String {
        gpgme_strerror(error).map { String(cString: $0) } ?? "error \(error)"
    }
}
