"""File formats: one module per kind of file, each the single owner of how it is read, written
and checked, and of the constants it shares with its readers.

============================  =====================================================  =====================
file                          module                                                 read / write
============================  =====================================================  =====================
stimulus set (netCDF)         :mod:`flycluster.stimuli.io`                           ``read_stimulus`` /
                                                                                     ``write_stimulus``
responses (netCDF)            :mod:`flycluster.formats.responses`                    ``open_responses``,
                                                                                     ``read_cell_type`` /
                                                                                     ``write_responses``
norms (netCDF)                :mod:`flycluster.formats.norms`                        ``read_norms`` /
                                                                                     ``write_norms``
clustering (netCDF)           :mod:`flycluster.formats.clustering`                   ``read_clustering`` /
                                                                                     ``write_clustering``
summary (csv)                 :mod:`flycluster.formats.summary`                      ``read_summary`` /
                                                                                     ``write_summary``
============================  =====================================================  =====================

Every reader raises ``FileNotFoundError`` for a missing file and ``ValueError`` (or
:class:`flycluster.errors.StimulusError` for stimuli) naming the file and what is wrong;
every writer writes to a temporary name and renames (:func:`flycluster.io_utils.atomic_path`).
"""
