// The caller's `seen` pointers as get_block's probing walk asks about them: is (sender, seq) in
// the Python container? One key tuple is reused from probe to probe while nothing else holds it,
// so a probe allocates nothing but (for a sequence number past the small-int cache) its int.
#pragma once

#include <Python.h>

#include <cstdint>

namespace mpf {

class SeenSet {
  public:
    explicit SeenSet(PyObject* seen)  // borrowed: the caller keeps it alive for the walk
        : seen_(seen), exact_set_(PyAnySet_CheckExact(seen)) {}
    ~SeenSet() { Py_XDECREF(key_); }
    SeenSet(const SeenSet&) = delete;
    SeenSet& operator=(const SeenSet&) = delete;

    // 1 when (sender, seq) is in `seen`, 0 when not, -1 with a Python error set.
    int contains(PyObject* sender, uint64_t seq) {
        PyObject* number = PyLong_FromUnsignedLongLong(seq);
        if (number == nullptr) return -1;
        if (key_ != nullptr && Py_REFCNT(key_) != 1) {  // someone kept it: never mutate it
            Py_DECREF(key_);
            key_ = nullptr;
        }
        Py_INCREF(sender);
        if (key_ == nullptr) {
            key_ = PyTuple_New(2);
            if (key_ == nullptr) {
                Py_DECREF(sender);
                Py_DECREF(number);
                return -1;
            }
            PyTuple_SET_ITEM(key_, 0, sender);
            PyTuple_SET_ITEM(key_, 1, number);
        } else {  // the old items are bytes and an int: releasing them runs no code
            PyObject* old_sender = PyTuple_GET_ITEM(key_, 0);
            PyObject* old_number = PyTuple_GET_ITEM(key_, 1);
            PyTuple_SET_ITEM(key_, 0, sender);
            PyTuple_SET_ITEM(key_, 1, number);
            Py_DECREF(old_sender);
            Py_DECREF(old_number);
        }
        return exact_set_ ? PySet_Contains(seen_, key_) : PySequence_Contains(seen_, key_);
    }

  private:
    PyObject* seen_;
    PyObject* key_ = nullptr;
    bool exact_set_;
};

}  // namespace mpf
