import inspect

import edgewise


def test_all_names_exist_and_are_public():
    for name in edgewise.__all__:
        assert hasattr(edgewise, name), name
    # submodules become attributes once imported; they are not part of __all__
    public = {
        n
        for n in dir(edgewise)
        if not n.startswith("_") and not inspect.ismodule(getattr(edgewise, n))
    }
    assert public - set(edgewise.__all__) == set()


def test_errors_share_one_root():
    for name in edgewise.__all__:
        obj = getattr(edgewise, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, edgewise.EdgewiseError)


def test_error_messages_carry_data():
    err = edgewise.ContextLengthExceededError(5000, 4096)
    assert (err.tokens, err.n_ctx) == (5000, 4096)
    assert "5000" in str(err) and "4096" in str(err)
    nf = edgewise.ModelNotFoundError("x", ["a", "b"])
    assert nf.known == ["a", "b"] and "edgewise models" in str(nf)
