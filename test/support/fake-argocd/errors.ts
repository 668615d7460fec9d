/**
 * Errors of the FAKE Argo CD API, as its clients see them. Argo CD's REST API is grpc-gateway
 * (v1) in front of the gRPC services: a handler fails with a gRPC status, and the gateway
 * answers the HTTP status of `runtime.HTTPStatusFromCode` with the body
 * `{"error": <message>, "code": <grpc code>, "message": <message>}` (`details` omitted when
 * empty, as Argo CD's JSON marshaller does). The mapping lives here and nowhere else.
 */

/** gRPC status codes (google.golang.org/grpc/codes). */
export const Code = {
  OK: 0, Canceled: 1, Unknown: 2, InvalidArgument: 3, DeadlineExceeded: 4, NotFound: 5, AlreadyExists: 6,
  PermissionDenied: 7, ResourceExhausted: 8, FailedPrecondition: 9, Aborted: 10, OutOfRange: 11,
  Unimplemented: 12, Internal: 13, Unavailable: 14, DataLoss: 15, Unauthenticated: 16,
} as const;

export type GrpcCode = (typeof Code)[keyof typeof Code];

/** A handler's failure: a gRPC status code and message. */
export class GrpcError extends Error {
  override name = 'GrpcError';
  constructor(readonly code: GrpcCode, message: string) {
    super(message);
  }
}

/** grpc-gateway v1 `runtime.HTTPStatusFromCode`. */
export function httpStatusOf(code: GrpcCode): number {
  switch (code) {
    case Code.OK: return 200;
    case Code.Canceled: return 408;
    case Code.InvalidArgument: return 400;
    case Code.DeadlineExceeded: return 504;
    case Code.NotFound: return 404;
    case Code.AlreadyExists: return 409;
    case Code.PermissionDenied: return 403;
    case Code.Unauthenticated: return 401;
    case Code.ResourceExhausted: return 429;
    // Deliberately not 412, as grpc-gateway says.
    case Code.FailedPrecondition: return 400;
    case Code.Aborted: return 409;
    case Code.OutOfRange: return 400;
    case Code.Unimplemented: return 501;
    case Code.Unavailable: return 503;
    default: return 500;
  }
}

/** The gateway's error body. */
export function errorBody(err: GrpcError): { error: string; code: number; message: string } {
  return { error: err.message, code: err.code, message: err.message };
}

/** Argo CD's `permissionDeniedErr`: what every application endpoint answers for "no access" and "no such app". */
export function permissionDenied(): GrpcError {
  return new GrpcError(Code.PermissionDenied, 'permission denied');
}

/** `applications.argoproj.io "web" not found`, as a NotFound status. */
export function appNotFound(name: string): GrpcError {
  return new GrpcError(Code.NotFound, `applications.argoproj.io "${name}" not found`);
}
