import Foundation
import Testing

@testable import ObjectStorage

/// The signer against AWS's published vectors: cases of the SigV4 signing test suite
/// (awslabs/aws-c-auth `tests/aws-signing-test-suite/v4`, service `service`, none of them
/// depending on path normalisation, which S3 does not do) and the worked examples of the S3 API
/// reference ("Signature Calculations for the Authorization Header", "Query String Auth").
@Suite struct SigV4VectorTests {
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let suiteSigner = SigV4Signer(
        credentials: AWSCredentials(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let s3Signer = SigV4Signer(
        credentials: AWSCredentials(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")

    struct SuiteCase: Sendable, CustomTestStringConvertible {
        let name: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: [(name: String, value: String)]
        let signedHeaders: String
        let signature: String
        var testDescription: String { name }
    }

    static let suiteCases: [SuiteCase] = [
        SuiteCase(
            name: "get-vanilla-query-order-key-case", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: [],
            signedHeaders: "host;x-amz-date", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        SuiteCase(
            name: "get-vanilla-query-unreserved", path: "/",
            query: [(
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            )], headers: [],
            signedHeaders: "host;x-amz-date", signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        SuiteCase(
            name: "get-vanilla-empty-query-key", path: "/", query: [("Param1", "value1")], headers: [],
            signedHeaders: "host;x-amz-date", signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
        SuiteCase(
            name: "get-header-value-trim", path: "/", query: [], headers: [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
            signedHeaders: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        SuiteCase(
            name: "get-slashes-unnormalized", path: "//example//", query: [], headers: [],
            signedHeaders: "host;x-amz-date", signature: "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"),
    ]

    @Test(arguments: suiteCases)
    func signingTestSuite(_ vector: SuiteCase) {
        var request = SignableRequest(
            method: "GET", path: vector.path, query: vector.query, headers: [("Host", "example.amazonaws.com")] + vector.headers)
        Self.suiteSigner.sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate, contentHashHeader: false)
        let authorization = request.headers.last { $0.name == "Authorization" }?.value
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(vector.signedHeaders), Signature=\(vector.signature)"
        )
    }

    @Test func sessionTokenIsSigned() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                sessionToken: "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            region: "us-east-1", service: "service")
        var request = SignableRequest(method: "GET", path: "/", headers: [("Host", "example.amazonaws.com")])
        signer.sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate, contentHashHeader: false)
        #expect(request.headers.last?.value.hasSuffix(
            "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8") == true)
        // (The suite's query form of this case also signs the token as a header and the empty
        // payload's hash; S3 presigned URLs sign `host` and UNSIGNED-PAYLOAD, checked below.)
        let query = signer.presignedQuery(method: "GET", host: "example.amazonaws.com", path: "/", expires: 3600, date: Self.suiteDate)
        #expect(query.contains("&X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&X-Amz-Signature="))
    }

    @Test func s3GetObjectWithRange() {
        var request = SignableRequest(
            method: "GET", path: "/test.txt", headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")])
        Self.s3Signer.sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(request.headers.last?.value
            == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectSignsPayloadHashAndHeaders() {
        let payloadHash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"  // "Welcome to Amazon S3."
        var request = SignableRequest(
            method: "PUT", path: "/" + SigV4Signer.encode("test$file.text", keepSlash: true),
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ])
        Self.s3Signer.sign(&request, payloadHash: payloadHash, date: Self.s3Date)
        #expect(request.path == "/test%24file.text")
        #expect(request.headers.last?.value.hasSuffix(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
    }

    @Test func s3ListObjectsSortsTheQuery() {
        var request = SignableRequest(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")], headers: [("Host", "examplebucket.s3.amazonaws.com")])
        Self.s3Signer.sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(request.headers.last?.value.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test func s3PresignedGet() {
        let query = Self.s3Signer.presignedQuery(
            method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", expires: 86400, date: Self.s3Date)
        #expect(
            query
                == "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        )
    }

    @Test func signingKeyDerivation() {
        // The IAM example of "Deriving the signing key" (secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam).
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKey: "x", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), region: "us-east-1", service: "iam")
        let key = signer.signingKey(day: "20120215").withUnsafeBytes { SigV4Signer.hex($0) }
        #expect(key == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func encodingKeepsOnlyUnreservedCharacters() {
        #expect(SigV4Signer.encode("a b+c/d~ሴ") == "a%20b%2Bc%2Fd~%E1%88%B4")
        #expect(SigV4Signer.encode("docker/registry/v2/x+y", keepSlash: true) == "docker/registry/v2/x%2By")
    }

    @Test func sharedCredentialsFileProfiles() {
        let text = """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = secret1
            # a comment
            [ci]
            aws_access_key_id=AKIDCI
            aws_secret_access_key=secret2
            aws_session_token=token
            """
        #expect(AWSCredentials.sharedFile(text, profile: "default") == AWSCredentials(accessKey: "AKIDDEFAULT", secretKey: "secret1"))
        #expect(AWSCredentials.sharedFile(text, profile: "ci") == AWSCredentials(accessKey: "AKIDCI", secretKey: "secret2", sessionToken: "token"))
        #expect(AWSCredentials.sharedFile(text, profile: "missing") == nil)
        let env = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/nonexistent"]
        #expect(AWSCredentials.resolve(accessKey: "k", secretKey: "v", environment: env)?.accessKey == "k")
        #expect(AWSCredentials.resolve(accessKey: nil, secretKey: nil, environment: env)?.accessKey == "AKIDENV")
        #expect(AWSCredentials.resolve(accessKey: nil, secretKey: nil, environment: ["HOME": "/nonexistent"]) == nil)
    }
}
