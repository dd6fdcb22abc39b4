//! Asks a window to close the way a window manager's close button does: a
//! `WM_PROTOCOLS`/`WM_DELETE_WINDOW` client message (Xvfb runs no window manager).

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr::null_mut;

use x11_dl::xlib::{self, Display, Window, Xlib};

pub struct X {
    xlib: Xlib,
    display: *mut Display,
}

impl X {
    pub fn open(display: &str) -> X {
        let xlib = Xlib::open().expect("libX11");
        let name = CString::new(display).unwrap();
        let display = unsafe { (xlib.XOpenDisplay)(name.as_ptr()) };
        assert!(!display.is_null(), "cannot open display {}", name.to_string_lossy());
        X { xlib, display }
    }

    /// A window (at any depth) whose `WM_NAME` is `title`.
    pub fn find(&self, title: &str) -> Option<Window> {
        let root = unsafe { (self.xlib.XDefaultRootWindow)(self.display) };
        self.find_under(root, title)
    }

    fn find_under(&self, window: Window, title: &str) -> Option<Window> {
        unsafe {
            let mut name: *mut c_char = null_mut();
            if (self.xlib.XFetchName)(self.display, window, &mut name) != 0 && !name.is_null() {
                let found = CStr::from_ptr(name).to_string_lossy() == title;
                (self.xlib.XFree)(name.cast());
                if found {
                    return Some(window);
                }
            }
            let (mut root, mut parent, mut children, mut count) = (0, 0, null_mut(), 0u32);
            if (self.xlib.XQueryTree)(self.display, window, &mut root, &mut parent, &mut children, &mut count) == 0 {
                return None;
            }
            let found = (0..count as usize).find_map(|i| self.find_under(*children.add(i), title));
            if !children.is_null() {
                (self.xlib.XFree)(children.cast());
            }
            found
        }
    }

    /// Sends `WM_DELETE_WINDOW` to `window`, as clicking its close button would.
    pub fn close(&self, window: Window) {
        unsafe {
            let protocols = (self.xlib.XInternAtom)(self.display, c"WM_PROTOCOLS".as_ptr(), xlib::False);
            let delete = (self.xlib.XInternAtom)(self.display, c"WM_DELETE_WINDOW".as_ptr(), xlib::False);
            let mut message: xlib::XClientMessageEvent = std::mem::zeroed();
            message.type_ = xlib::ClientMessage;
            message.window = window;
            message.message_type = protocols;
            message.format = 32;
            message.data.set_long(0, delete as std::os::raw::c_long);
            message.data.set_long(1, xlib::CurrentTime as std::os::raw::c_long);
            let mut event = xlib::XEvent::from(message);
            let sent = (self.xlib.XSendEvent)(self.display, window, xlib::False, xlib::NoEventMask, &mut event);
            assert_ne!(sent, 0, "XSendEvent failed");
            (self.xlib.XFlush)(self.display);
        }
    }
}

impl Drop for X {
    fn drop(&mut self) {
        unsafe { (self.xlib.XCloseDisplay)(self.display) };
    }
}
