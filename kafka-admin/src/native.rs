//! The FFI layer: every `unsafe` of the crate is in this module, and nothing in it outlives
//! a call. See the crate documentation for the ownership rules it follows.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::{self, NonNull};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::config::RDKafkaLogLevel;

use crate::acl::{NativeAcl, RawAcl};
use crate::error::{AdminError, ApiError};
use crate::scram::RawScramCredential;

/// Getters whose rdkafka-sys bindings return a Rust enum for a value that came from the
/// broker. A Rust enum holding a value outside its variants is undefined behaviour, and
/// librdkafka passes some of these through unchecked (a SCRAM mechanism, a broker error
/// code newer than librdkafka), so they are declared again here returning the C `int`
/// that a C enum is: the same symbols, the same ABI, read as integers.
mod int {
    use std::ffi::{c_char, c_int};

    use rdkafka::bindings as rd;

    unsafe extern "C" {
        pub(super) fn rd_kafka_error_code(error: *const rd::rd_kafka_error_t) -> c_int;
        pub(super) fn rd_kafka_event_error(rkev: *mut rd::rd_kafka_event_t) -> c_int;
        pub(super) fn rd_kafka_err2name(err: c_int) -> *const c_char;
        pub(super) fn rd_kafka_err2str(err: c_int) -> *const c_char;
        pub(super) fn rd_kafka_AclBinding_restype(acl: *const rd::rd_kafka_AclBinding_t) -> c_int;
        pub(super) fn rd_kafka_AclBinding_resource_pattern_type(
            acl: *const rd::rd_kafka_AclBinding_t,
        ) -> c_int;
        pub(super) fn rd_kafka_AclBinding_operation(acl: *const rd::rd_kafka_AclBinding_t)
        -> c_int;
        pub(super) fn rd_kafka_AclBinding_permission_type(
            acl: *const rd::rd_kafka_AclBinding_t,
        ) -> c_int;
        pub(super) fn rd_kafka_ScramCredentialInfo_mechanism(
            info: *const rd::rd_kafka_ScramCredentialInfo_t,
        ) -> c_int;
    }
}

/// A librdkafka object type and the function that frees it.
trait Destroy {
    /// # Safety
    /// `ptr` came from this type's constructor, is owned by the caller, and is destroyed
    /// once.
    unsafe fn destroy(ptr: *mut Self);
}

macro_rules! destroy_with {
    ($ty:ty, $f:path) => {
        impl Destroy for $ty {
            unsafe fn destroy(ptr: *mut Self) {
                // SAFETY: the trait's contract: an owned pointer from the matching
                // constructor, destroyed once.
                unsafe { $f(ptr) }
            }
        }
    };
}

destroy_with!(rd::rd_kafka_queue_t, rd::rd_kafka_queue_destroy);
destroy_with!(rd::rd_kafka_event_t, rd::rd_kafka_event_destroy);
destroy_with!(
    rd::rd_kafka_AdminOptions_t,
    rd::rd_kafka_AdminOptions_destroy
);
destroy_with!(rd::rd_kafka_AclBinding_t, rd::rd_kafka_AclBinding_destroy);
destroy_with!(
    rd::rd_kafka_UserScramCredentialAlteration_t,
    rd::rd_kafka_UserScramCredentialAlteration_destroy
);

/// A librdkafka object this crate owns: destroyed exactly once, when dropped. Not `Send`
/// (`NonNull`): each lives within one call on one thread.
struct Owned<T: Destroy>(NonNull<T>);

impl<T: Destroy> Owned<T> {
    /// # Safety
    /// `ptr` is null or owned by the caller (fresh from a constructor, not destroyed nor
    /// handed to librdkafka with its ownership).
    unsafe fn from_raw(ptr: *mut T) -> Option<Self> {
        NonNull::new(ptr).map(Owned)
    }

    fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T: Destroy> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `from_raw`'s contract makes this the one owner; drop runs once.
        unsafe { T::destroy(self.0.as_ptr()) }
    }
}

/// A buffer for librdkafka's `errstr` out-parameters (always NUL-terminated: zeroed, and
/// librdkafka writes with snprintf into `len()` bytes).
struct ErrBuf([c_char; 512]);

impl ErrBuf {
    fn new() -> Self {
        Self([0; 512])
    }

    fn as_mut_ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn message(&self) -> String {
        // SAFETY: the buffer is NUL-terminated (see the type) and lives while read.
        unsafe { CStr::from_ptr(self.0.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Copies a C string out; `None` for NULL.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string valid for the duration of the call.
unsafe fn string_at(s: *const c_char) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: non-null, and valid per the function's contract.
    Some(unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
}

/// The array librdkafka returned as (pointer, count), borrowed from the event that owns it.
///
/// # Safety
/// `ptr` is NULL or points to `n` initialised elements owned by `owner`'s event.
/// (The elided lifetime ties the slice to `_owner`, the only borrowed input.)
unsafe fn array<T>(_owner: &Completed, ptr: *const T, n: usize) -> &[T] {
    if ptr.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: per the contract; the lifetime ties the slice to the event that owns it.
    unsafe { std::slice::from_raw_parts(ptr, n) }
}

/// The error librdkafka attached to a result item; `None` for none or code 0.
///
/// # Safety
/// `error` is NULL or a valid `rd_kafka_error_t` for the duration of the call.
unsafe fn api_error(error: *const rd::rd_kafka_error_t) -> Option<ApiError> {
    if error.is_null() {
        return None;
    }
    // SAFETY: a valid error object, per the contract.
    let code = unsafe { int::rd_kafka_error_code(error) };
    if code == 0 {
        return None;
    }
    // SAFETY: as above; the strings belong to the error object and are copied out.
    let (name, message) = unsafe {
        (
            string_at(rd::rd_kafka_error_name(error)),
            string_at(rd::rd_kafka_error_string(error)),
        )
    };
    Some(ApiError {
        code,
        name: name.unwrap_or_else(|| format!("ERR_{code}")),
        message: message.unwrap_or_default(),
    })
}

fn c_string(operation: &'static str, what: &'static str, s: &str) -> Result<CString, AdminError> {
    CString::new(s).map_err(|_| AdminError::Invalid {
        operation,
        what,
        reason: "contains a NUL byte".to_owned(),
    })
}

fn c_string_opt(
    operation: &'static str,
    what: &'static str,
    s: Option<&str>,
) -> Result<Option<CString>, AdminError> {
    s.map(|s| c_string(operation, what, s)).transpose()
}

fn as_ptr_or_null(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// A finished request: its result event, and the queue it arrived on (kept until the event
/// is gone; fields drop in order, the event first).
struct Completed {
    event: Owned<rd::rd_kafka_event_t>,
    _queue: Owned<rd::rd_kafka_queue_t>,
}

/// librdkafka's limit for `request_timeout` (1 hour).
const MAX_REQUEST_TIMEOUT_MS: u128 = 3_600_000;
/// How much longer than the request timeout to wait for the result event, which librdkafka
/// posts itself (with `_TIMED_OUT`) when the request times out.
const RESULT_GRACE: Duration = Duration::from_secs(10);

/// How far a result event's request-level error can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestError {
    /// The event owns its error string, and destroying it is sound.
    Owned,
    /// librdkafka 2.12's DescribeUserScramCredentials parser stores a broker's
    /// request-level error message as a pointer to its own stack (`RD_KAFKAP_STR_DUPA`,
    /// i.e. alloca) or to a static string, and `rd_kafka_event_destroy` then `free`s it:
    /// reading the string is a use after return and destroying the event corrupts the
    /// heap (glibc aborts: "munmap_chunk(): invalid pointer"). For such an event (a
    /// positive, broker, error code) the message is librdkafka's static text for the code,
    /// and the event is leaked, never destroyed: a few hundred bytes per refused describe.
    /// Local errors (negative codes) are set through `rd_strdup` and are safe.
    BrokerErrorStringDangles,
}

/// Submits one admin request on a queue of its own and waits for its result event.
///
/// `submit` receives the client, the options and the queue, and must call the librdkafka
/// admin function (which copies its arguments and the options before returning).
fn run<C: ClientContext>(
    client: &Client<C>,
    operation: &'static str,
    op: rd::rd_kafka_admin_op_t,
    expected_event: c_int,
    request_error: RequestError,
    timeout: Duration,
    submit: impl FnOnce(
        *mut rd::rd_kafka_t,
        *const rd::rd_kafka_AdminOptions_t,
        *mut rd::rd_kafka_queue_t,
    ),
) -> Result<Completed, AdminError> {
    serve_main_queue(client);
    let rk = client.native_ptr();
    // SAFETY: `rk` is the live client handle (borrowed for this call); a new queue is ours.
    let queue =
        unsafe { Owned::from_raw(rd::rd_kafka_queue_new(rk)) }.ok_or(AdminError::Unexpected {
            operation,
            detail: "rd_kafka_queue_new returned NULL".to_owned(),
        })?;
    // SAFETY: as above; new options are ours.
    let options = unsafe { Owned::from_raw(rd::rd_kafka_AdminOptions_new(rk, op)) }.ok_or(
        AdminError::Unexpected {
            operation,
            detail: "rd_kafka_AdminOptions_new returned NULL".to_owned(),
        },
    )?;
    let timeout_ms = timeout.as_millis().clamp(1, MAX_REQUEST_TIMEOUT_MS) as c_int;
    let mut errbuf = ErrBuf::new();
    // SAFETY: `options` is live; the buffer is writable for `len()` bytes.
    let err = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.as_ptr(),
            timeout_ms,
            errbuf.as_mut_ptr(),
            errbuf.len(),
        )
    };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(AdminError::Invalid {
            operation,
            what: "timeout",
            reason: errbuf.message(),
        });
    }
    submit(rk, options.as_ptr(), queue.as_ptr());
    // librdkafka copied the options into the request.
    drop(options);

    let waited = Duration::from_millis(timeout_ms as u64) + RESULT_GRACE;
    let poll_ms = c_int::try_from(waited.as_millis()).unwrap_or(c_int::MAX);
    let mut event;
    loop {
        // SAFETY: `queue` is live; the event returned (if any) is ours to destroy.
        event = unsafe { Owned::from_raw(rd::rd_kafka_queue_poll(queue.as_ptr(), poll_ms)) };
        // A result that arrives after the queue is gone is destroyed by librdkafka, which
        // must not happen to one whose error string dangles: for those, wait on (librdkafka
        // posts every request's result, at its timeout at the latest).
        if event.is_some() || request_error == RequestError::Owned {
            break;
        }
    }
    let reported = serve_main_queue(client);
    let Some(event) = event else {
        // Dropping the queue disables it; a result arriving later is freed by librdkafka.
        return Err(AdminError::NoResult { operation, waited });
    };
    // The client's own errors explain a local failure (negative code), not a broker's.
    let reported_if_local = |code: c_int| {
        if code < 0 {
            reported.clone()
        } else {
            Vec::new()
        }
    };
    let done = Completed {
        event,
        _queue: queue,
    };
    // SAFETY: a live event.
    let kind = unsafe { rd::rd_kafka_event_type(done.event.as_ptr()) };
    if kind != expected_event {
        return Err(AdminError::Unexpected {
            operation,
            detail: format!("event type {kind} instead of {expected_event}"),
        });
    }
    // SAFETY: a live event.
    let code = unsafe { int::rd_kafka_event_error(done.event.as_ptr()) };
    if code > 0 && request_error == RequestError::BrokerErrorStringDangles {
        let Completed { event, _queue } = done;
        // Not destroyed: see `RequestError::BrokerErrorStringDangles`.
        std::mem::forget(event);
        // SAFETY: err2name and err2str accept any code and return static strings.
        let (name, message) = unsafe {
            (
                string_at(int::rd_kafka_err2name(code)),
                string_at(int::rd_kafka_err2str(code)),
            )
        };
        return Err(AdminError::Request {
            operation,
            error: ApiError {
                code,
                name: name.unwrap_or_else(|| format!("ERR_{code}")),
                message: message.unwrap_or_default(),
            },
            reported: reported_if_local(code),
        });
    }
    if code != 0 {
        // SAFETY: a live event that owns its error string, copied out.
        let message = unsafe { string_at(rd::rd_kafka_event_error_string(done.event.as_ptr())) };
        // SAFETY: err2name accepts any code (unknown ones get a generic name) and returns a
        // static string.
        let name = unsafe { string_at(int::rd_kafka_err2name(code)) };
        return Err(AdminError::Request {
            operation,
            error: ApiError {
                code,
                name: name.unwrap_or_else(|| format!("ERR_{code}")),
                message: message.unwrap_or_default(),
            },
            reported: reported_if_local(code),
        });
    }
    Ok(done)
}

/// Hands what librdkafka posted on the client's main queue (its log lines and global
/// errors: rdkafka's `Client` routes logs there) to the client context, as rdkafka's own
/// clients do when polled, so they neither pile up nor go unseen, and returns the errors
/// (the first of each code). Other events there (statistics) are dropped.
fn serve_main_queue<C: ClientContext>(client: &Client<C>) -> Vec<ApiError> {
    let mut errors: Vec<ApiError> = Vec::new();
    // SAFETY: the live client handle; `rd_kafka_queue_get_main` returns a new reference,
    // released by `Owned`'s drop.
    let Some(main) = (unsafe { Owned::from_raw(rd::rd_kafka_queue_get_main(client.native_ptr())) })
    else {
        return errors;
    };
    loop {
        // SAFETY: `main` is live; a returned event is ours.
        let Some(event) = (unsafe { Owned::from_raw(rd::rd_kafka_queue_poll(main.as_ptr(), 0)) })
        else {
            return errors;
        };
        let ev = event.as_ptr();
        // SAFETY: a live event.
        match unsafe { rd::rd_kafka_event_type(ev) } {
            rd::RD_KAFKA_EVENT_LOG => {
                let (mut fac, mut msg, mut level) = (ptr::null(), ptr::null(), 0);
                // SAFETY: a live LOG event; the out-pointers are valid, and the strings
                // belong to the event, copied out before it is destroyed.
                let (fac, msg) = unsafe {
                    if rd::rd_kafka_event_log(ev, &mut fac, &mut msg, &mut level) != 0 {
                        continue;
                    }
                    (string_at(fac), string_at(msg))
                };
                client.context().log(
                    log_level(level),
                    fac.as_deref().unwrap_or(""),
                    msg.as_deref().unwrap_or(""),
                );
            }
            rd::RD_KAFKA_EVENT_ERROR => {
                // SAFETY: a live ERROR event, which owns its string (copied out);
                // err2name returns a static string for any code.
                let (code, name, reason) = unsafe {
                    let code = int::rd_kafka_event_error(ev);
                    (
                        code,
                        string_at(int::rd_kafka_err2name(code)),
                        string_at(rd::rd_kafka_event_error_string(ev)),
                    )
                };
                let error = ApiError {
                    code,
                    name: name.unwrap_or_else(|| format!("ERR_{code}")),
                    message: reason.unwrap_or_default(),
                };
                client
                    .context()
                    .log(RDKafkaLogLevel::Error, "ERROR", &error.to_string());
                // Once per code: librdkafka repeats a failing login every reconnect.
                if !errors.iter().any(|e| e.code == error.code) {
                    errors.push(error);
                }
            }
            _ => {}
        }
    }
}

fn log_level(level: c_int) -> RDKafkaLogLevel {
    match level {
        0 => RDKafkaLogLevel::Emerg,
        1 => RDKafkaLogLevel::Alert,
        2 => RDKafkaLogLevel::Critical,
        3 => RDKafkaLogLevel::Error,
        4 => RDKafkaLogLevel::Warning,
        5 => RDKafkaLogLevel::Notice,
        6 => RDKafkaLogLevel::Info,
        _ => RDKafkaLogLevel::Debug,
    }
}

/// A new native binding (`filter` false) or filter; librdkafka validates it and copies
/// the strings, so the `CString`s go right after.
fn new_acl(
    operation: &'static str,
    acl: &NativeAcl<'_>,
    filter: bool,
) -> Result<Owned<rd::rd_kafka_AclBinding_t>, AdminError> {
    let name = c_string_opt(operation, "resource name", acl.name)?;
    let principal = c_string_opt(operation, "principal", acl.principal)?;
    let host = c_string_opt(operation, "host", acl.host)?;
    let mut errbuf = ErrBuf::new();
    let new = if filter {
        rd::rd_kafka_AclBindingFilter_new
    } else {
        rd::rd_kafka_AclBinding_new
    };
    // SAFETY: the strings are NUL-terminated or NULL (which both constructors check for,
    // a binding refusing it) and outlive the call, which copies them; the buffer is
    // writable for `len()` bytes. A non-NULL result is a new object we own.
    let native = unsafe {
        Owned::from_raw(new(
            acl.resource,
            as_ptr_or_null(&name),
            acl.pattern,
            as_ptr_or_null(&principal),
            as_ptr_or_null(&host),
            acl.operation,
            acl.permission,
            errbuf.as_mut_ptr(),
            errbuf.len(),
        ))
    };
    native.ok_or_else(|| AdminError::Invalid {
        operation,
        what: if filter { "ACL filter" } else { "ACL binding" },
        reason: errbuf.message(),
    })
}

/// Copies a binding out of a result.
///
/// # Safety
/// `acl` is a valid binding for the duration of the call.
unsafe fn read_acl(acl: *const rd::rd_kafka_AclBinding_t) -> RawAcl {
    // SAFETY: per the contract; the strings belong to the binding and are copied.
    unsafe {
        RawAcl {
            resource: int::rd_kafka_AclBinding_restype(acl),
            name: string_at(rd::rd_kafka_AclBinding_name(acl)),
            pattern: int::rd_kafka_AclBinding_resource_pattern_type(acl),
            principal: string_at(rd::rd_kafka_AclBinding_principal(acl)),
            host: string_at(rd::rd_kafka_AclBinding_host(acl)),
            operation: int::rd_kafka_AclBinding_operation(acl),
            permission: int::rd_kafka_AclBinding_permission_type(acl),
        }
    }
}

fn null_result(operation: &'static str) -> AdminError {
    AdminError::Unexpected {
        operation,
        detail: "the result event carries no result".to_owned(),
    }
}

/// CreateAcls: one optional error per binding, in the bindings' order.
pub(crate) fn create_acls<C: ClientContext>(
    client: &Client<C>,
    acls: &[NativeAcl<'_>],
    timeout: Duration,
) -> Result<Vec<Option<ApiError>>, AdminError> {
    const OP: &str = "create ACLs";
    let natives = acls
        .iter()
        .map(|acl| new_acl(OP, acl, false))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<_> = natives.iter().map(Owned::as_ptr).collect();
    let done = run(
        client,
        OP,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
        rd::RD_KAFKA_EVENT_CREATEACLS_RESULT,
        RequestError::Owned,
        timeout,
        // SAFETY: the live handle, options and queue from `run`; `ptrs` holds `len()` live
        // bindings, which librdkafka copies (we still own and later destroy them).
        |rk, options, queue| unsafe {
            rd::rd_kafka_CreateAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), options, queue)
        },
    )?;
    drop(natives);
    // SAFETY: a live event of the CreateAcls type.
    let result = unsafe { rd::rd_kafka_event_CreateAcls_result(done.event.as_ptr()) };
    if result.is_null() {
        return Err(null_result(OP));
    }
    let mut n = 0;
    // SAFETY: `result` belongs to the live event, as does the array it returns.
    let results = unsafe {
        array(
            &done,
            rd::rd_kafka_CreateAcls_result_acls(result, &mut n),
            n,
        )
    };
    if results.len() != acls.len() {
        return Err(AdminError::Unexpected {
            operation: OP,
            detail: format!("{} results for {} bindings", results.len(), acls.len()),
        });
    }
    Ok(results
        .iter()
        // SAFETY: each element is a live result of the event; its error object too.
        .map(|&r| unsafe { api_error(rd::rd_kafka_acl_result_error(r)) })
        .collect())
}

/// DescribeAcls: the bindings the filter selects.
pub(crate) fn describe_acls<C: ClientContext>(
    client: &Client<C>,
    filter: &NativeAcl<'_>,
    timeout: Duration,
) -> Result<Vec<RawAcl>, AdminError> {
    const OP: &str = "describe ACLs";
    let native = new_acl(OP, filter, true)?;
    let done = run(
        client,
        OP,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
        rd::RD_KAFKA_EVENT_DESCRIBEACLS_RESULT,
        RequestError::Owned,
        timeout,
        // SAFETY: the live handle, options and queue; the filter is live and copied.
        |rk, options, queue| unsafe {
            rd::rd_kafka_DescribeAcls(rk, native.as_ptr(), options, queue)
        },
    )?;
    // SAFETY: a live event of the DescribeAcls type.
    let result = unsafe { rd::rd_kafka_event_DescribeAcls_result(done.event.as_ptr()) };
    if result.is_null() {
        return Err(null_result(OP));
    }
    let mut n = 0;
    // SAFETY: the array and its bindings belong to the live event.
    let acls = unsafe {
        array(
            &done,
            rd::rd_kafka_DescribeAcls_result_acls(result, &mut n),
            n,
        )
    };
    // SAFETY: each element is a live binding of the event.
    Ok(acls.iter().map(|&acl| unsafe { read_acl(acl) }).collect())
}

/// What one DeleteAcls filter did: its error, or the bindings it deleted (each with the
/// error that kept it, if any).
pub(crate) type FilterOutcome = Result<Vec<(RawAcl, Option<ApiError>)>, ApiError>;

/// DeleteAcls: one outcome per filter, in the filters' order.
pub(crate) fn delete_acls<C: ClientContext>(
    client: &Client<C>,
    filters: &[NativeAcl<'_>],
    timeout: Duration,
) -> Result<Vec<FilterOutcome>, AdminError> {
    const OP: &str = "delete ACLs";
    let natives = filters
        .iter()
        .map(|f| new_acl(OP, f, true))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<_> = natives.iter().map(Owned::as_ptr).collect();
    let done = run(
        client,
        OP,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
        rd::RD_KAFKA_EVENT_DELETEACLS_RESULT,
        RequestError::Owned,
        timeout,
        // SAFETY: the live handle, options and queue; `ptrs` holds `len()` live filters,
        // which librdkafka copies.
        |rk, options, queue| unsafe {
            rd::rd_kafka_DeleteAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), options, queue)
        },
    )?;
    drop(natives);
    // SAFETY: a live event of the DeleteAcls type.
    let result = unsafe { rd::rd_kafka_event_DeleteAcls_result(done.event.as_ptr()) };
    if result.is_null() {
        return Err(null_result(OP));
    }
    let mut n = 0;
    // SAFETY: the array and its responses belong to the live event.
    let responses = unsafe {
        array(
            &done,
            rd::rd_kafka_DeleteAcls_result_responses(result, &mut n),
            n,
        )
    };
    if responses.len() != filters.len() {
        return Err(AdminError::Unexpected {
            operation: OP,
            detail: format!(
                "{} responses for {} filters",
                responses.len(),
                filters.len()
            ),
        });
    }
    let mut outcomes = Vec::with_capacity(responses.len());
    for &response in responses {
        // SAFETY: a live response of the event; its error object too.
        let error = unsafe { api_error(rd::rd_kafka_DeleteAcls_result_response_error(response)) };
        if let Some(error) = error {
            outcomes.push(Err(error));
            continue;
        }
        let mut m = 0;
        // SAFETY: the matching bindings belong to the response, hence to the event.
        let matching = unsafe {
            array(
                &done,
                rd::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut m),
                m,
            )
        };
        outcomes.push(Ok(matching
            .iter()
            // SAFETY: live bindings of the event; their error objects too.
            .map(|&acl| unsafe { (read_acl(acl), api_error(rd::rd_kafka_AclBinding_error(acl))) })
            .collect()));
    }
    Ok(outcomes)
}

/// One change of a user's SCRAM credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Alteration<'a> {
    Upsert {
        user: &'a str,
        mechanism: rd::rd_kafka_ScramMechanism_t,
        iterations: i32,
        password: &'a [u8],
    },
    Delete {
        user: &'a str,
        mechanism: rd::rd_kafka_ScramMechanism_t,
    },
}

/// AlterUserScramCredentials: each user's optional error.
pub(crate) fn alter_scram<C: ClientContext>(
    client: &Client<C>,
    operation: &'static str,
    alterations: &[Alteration<'_>],
    timeout: Duration,
) -> Result<Vec<(String, Option<ApiError>)>, AdminError> {
    let mut natives = Vec::with_capacity(alterations.len());
    for alteration in alterations {
        let native = match *alteration {
            Alteration::Upsert {
                user,
                mechanism,
                iterations,
                password,
            } => {
                let user = c_string(operation, "user name", user)?;
                // SAFETY: `user` is NUL-terminated and `password` is `len()` readable
                // bytes; both outlive the call, which copies them. A NULL salt asks
                // librdkafka for a random one (64 bytes from OpenSSL's RAND_priv_bytes).
                unsafe {
                    Owned::from_raw(rd::rd_kafka_UserScramCredentialUpsertion_new(
                        user.as_ptr(),
                        mechanism,
                        iterations,
                        password.as_ptr(),
                        password.len(),
                        ptr::null(),
                        0,
                    ))
                }
            }
            Alteration::Delete { user, mechanism } => {
                let user = c_string(operation, "user name", user)?;
                // SAFETY: `user` is NUL-terminated, outlives the call, and is copied.
                unsafe {
                    Owned::from_raw(rd::rd_kafka_UserScramCredentialDeletion_new(
                        user.as_ptr(),
                        mechanism,
                    ))
                }
            }
        };
        natives.push(native.ok_or_else(|| AdminError::Unexpected {
            operation,
            detail: "librdkafka could not allocate a credential alteration".to_owned(),
        })?);
    }
    let mut ptrs: Vec<_> = natives.iter().map(Owned::as_ptr).collect();
    let done = run(
        client,
        operation,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERUSERSCRAMCREDENTIALS,
        rd::RD_KAFKA_EVENT_ALTERUSERSCRAMCREDENTIALS_RESULT,
        RequestError::Owned,
        timeout,
        // SAFETY: the live handle, options and queue; `ptrs` holds `len()` live
        // alterations, which librdkafka copies.
        |rk, options, queue| unsafe {
            rd::rd_kafka_AlterUserScramCredentials(
                rk,
                ptrs.as_mut_ptr(),
                ptrs.len(),
                options,
                queue,
            )
        },
    )?;
    // The copies of the passwords are librdkafka's now (freed with the request); ours go.
    drop(natives);
    // SAFETY: a live event of the AlterUserScramCredentials type.
    let result =
        unsafe { rd::rd_kafka_event_AlterUserScramCredentials_result(done.event.as_ptr()) };
    if result.is_null() {
        return Err(null_result(operation));
    }
    let mut n = 0;
    // SAFETY: the array and its responses belong to the live event.
    let responses = unsafe {
        array(
            &done,
            rd::rd_kafka_AlterUserScramCredentials_result_responses(result, &mut n),
            n,
        )
    };
    Ok(responses
        .iter()
        // SAFETY: live responses of the event; strings and errors copied out.
        .map(|&r| unsafe {
            (
                string_at(rd::rd_kafka_AlterUserScramCredentials_result_response_user(
                    r,
                ))
                .unwrap_or_default(),
                api_error(rd::rd_kafka_AlterUserScramCredentials_result_response_error(r)),
            )
        })
        .collect())
}

/// One user's credentials, or the error describing them.
pub(crate) type UserCredentials = (String, Result<Vec<RawScramCredential>, ApiError>);

/// DescribeUserScramCredentials (every user when `users` is empty).
pub(crate) fn describe_scram<C: ClientContext>(
    client: &Client<C>,
    users: &[&str],
    timeout: Duration,
) -> Result<Vec<UserCredentials>, AdminError> {
    const OP: &str = "describe SCRAM credentials";
    let users = users
        .iter()
        .map(|u| c_string(OP, "user name", u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const c_char> = users.iter().map(|u| u.as_ptr()).collect();
    let done = run(
        client,
        OP,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEUSERSCRAMCREDENTIALS,
        rd::RD_KAFKA_EVENT_DESCRIBEUSERSCRAMCREDENTIALS_RESULT,
        RequestError::BrokerErrorStringDangles,
        timeout,
        // SAFETY: the live handle, options and queue; `ptrs` holds `len()` NUL-terminated
        // names (NULL array when empty) that outlive the call, which copies them.
        |rk, options, queue| unsafe {
            let names = if ptrs.is_empty() {
                ptr::null_mut()
            } else {
                ptrs.as_mut_ptr()
            };
            rd::rd_kafka_DescribeUserScramCredentials(rk, names, ptrs.len(), options, queue)
        },
    )?;
    drop(users);
    // SAFETY: a live event of the DescribeUserScramCredentials type.
    let result =
        unsafe { rd::rd_kafka_event_DescribeUserScramCredentials_result(done.event.as_ptr()) };
    if result.is_null() {
        return Err(null_result(OP));
    }
    let mut n = 0;
    // SAFETY: the array and its descriptions belong to the live event.
    let descriptions = unsafe {
        array(
            &done,
            rd::rd_kafka_DescribeUserScramCredentials_result_descriptions(result, &mut n),
            n,
        )
    };
    let mut out = Vec::with_capacity(descriptions.len());
    for &d in descriptions {
        // SAFETY: a live description of the event; strings and errors copied out.
        let (user, error, count) = unsafe {
            (
                string_at(rd::rd_kafka_UserScramCredentialsDescription_user(d)).unwrap_or_default(),
                api_error(rd::rd_kafka_UserScramCredentialsDescription_error(d)),
                rd::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo_count(d),
            )
        };
        if let Some(error) = error {
            out.push((user, Err(error)));
            continue;
        }
        let credentials = (0..count)
            .map(|i| {
                // SAFETY: `i` < the description's count; the info belongs to the event.
                unsafe {
                    let info =
                        rd::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo(d, i);
                    RawScramCredential {
                        mechanism: int::rd_kafka_ScramCredentialInfo_mechanism(info),
                        iterations: rd::rd_kafka_ScramCredentialInfo_iterations(info),
                    }
                }
            })
            .collect();
        out.push((user, Ok(credentials)));
    }
    Ok(out)
}
