/* errors.h - the error names busd and libbus put in ERROR frames (and in
 * bus_error_t): the one table both sides use, so that a name is never
 * spelt twice. docs/protocol.md lists when each is sent. Services may
 * define dotted names of their own; names under "bus.Error." are reserved. */
#ifndef BUS_ERRORS_H
#define BUS_ERRORS_H

/* Sent by busd. */
#define BUS_ERROR_NAME_HAS_NO_OWNER "bus.Error.NameHasNoOwner" /* CALL to a name nobody owns */
#define BUS_ERROR_NAME_TAKEN "bus.Error.NameTaken"             /* RequestName: another owns it */
#define BUS_ERROR_NOT_OWNER "bus.Error.NotOwner"               /* ReleaseName: not ours */
#define BUS_ERROR_NO_REPLY "bus.Error.NoReply"                 /* callee went away */
#define BUS_ERROR_INVALID_FRAME "bus.Error.InvalidFrame"       /* broken frame: closed */
#define BUS_ERROR_FRAME_TOO_LARGE "bus.Error.FrameTooLarge"    /* above the maximum: closed */
#define BUS_ERROR_VERSION_MISMATCH "bus.Error.VersionMismatch" /* wrong version: closed */
#define BUS_ERROR_HELLO_REQUIRED "bus.Error.HelloRequired"     /* first frame not Hello */
#define BUS_ERROR_INVALID_ARGS "bus.Error.InvalidArgs"         /* a request that is not valid */
#define BUS_ERROR_UNKNOWN_METHOD "bus.Error.UnknownMethod"     /* no such method */
#define BUS_ERROR_LIMITS_EXCEEDED "bus.Error.LimitsExceeded"   /* a busd limit (busd.conf) */
#define BUS_ERROR_ACCESS_DENIED "bus.Error.AccessDenied"       /* a [policy] rule refused it */
#define BUS_ERROR_UNKNOWN_SCHEMA "bus.Error.UnknownSchema"     /* GetSchema: no such id */
#define BUS_ERROR_SERVICE_START_FAILED "bus.Error.ServiceStartFailed" /* a declared service did not come up */
#define BUS_ERROR_FAILED "bus.Error.Failed"                    /* anything else */

/* Out-of-line bodies (docs/protocol.md): sent by busd, and by libbus for
 * one that reached it unchecked. */
#define BUS_ERROR_UNSEALED_BODY "bus.Error.UnsealedBody"       /* not a sealed memfd of its size */
#define BUS_ERROR_OUT_OF_LINE_NOT_SUPPORTED "bus.Error.OutOfLineNotSupported" /* receiver takes none */

/* Sent by libbus services. */
#define BUS_ERROR_UNKNOWN_INTERFACE "bus.Error.UnknownInterface" /* no such service exported */
#define BUS_ERROR_SERVICE_FAILED "bus.Error.ServiceFailed"       /* handler gave no reply */

/* Local to libbus, never on the wire. */
#define BUS_ERROR_TIMEOUT "bus.Error.Timeout"           /* the call's timeout expired */
#define BUS_ERROR_DISCONNECTED "bus.Error.Disconnected" /* the connection to busd is lost */

#endif
