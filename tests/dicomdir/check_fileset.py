"""Loads a DICOMDIR with pydicom's FileSet and checks it against its files.

Usage: check_fileset.py DICOMDIR

For every instance of the file-set: its file exists and loads, its SOP
Class and Instance UIDs and its transfer syntax are the record's, and every non-empty key of its record and of
the SERIES, STUDY and PATIENT records above it equals the file's value (or
is the documented dummy of a Type 1 key the file leaves empty). Prints one
line of JSON: instances and keys checked. Exits non-zero on any difference.
"""
import json
import sys

from pydicom import dcmread
from pydicom.fileset import FileSet

# Type 1 keys a file may leave empty and the record must fill (README: DICOMDIR).
DUMMIES = {
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "StudyID": "0",
    "SeriesNumber": "0",
    "InstanceNumber": "0",
    "Modality": "OT",
}


def empty(value):
    return value is None or value == "" or value == b"" or value == []


def main(path):
    fs = FileSet(dcmread(path))
    instances = 0
    keys = 0
    problems = []
    for instance in fs:
        instances += 1
        ds = instance.load()
        if ds.SOPInstanceUID != instance.ReferencedSOPInstanceUIDInFile:
            problems.append(f"{instance.path}: SOP Instance UID differs")
        if ds.SOPClassUID != instance.ReferencedSOPClassUIDInFile:
            problems.append(f"{instance.path}: SOP Class UID differs")
        if ds.file_meta.TransferSyntaxUID != instance.ReferencedTransferSyntaxUIDInFile:
            problems.append(f"{instance.path}: Transfer Syntax UID differs")
        for node in [instance.node] + instance.node.ancestors:
            record = node._record
            for element in record:
                if element.tag == 0x00080005:
                    continue
                if element.tag.group == 0x0004 or element.VR == "SQ":
                    continue
                if empty(element.value):
                    continue
                keys += 1
                in_file = ds.get(element.tag)
                if in_file is not None and not empty(in_file.value):
                    if in_file.value != element.value:
                        problems.append(
                            f"{instance.path}: {record.DirectoryRecordType} {element.keyword} "
                            f"{element.value!r} != file's {in_file.value!r}"
                        )
                elif DUMMIES.get(element.keyword) != str(element.value):
                    problems.append(
                        f"{instance.path}: {record.DirectoryRecordType} {element.keyword} "
                        f"{element.value!r}, the file has none"
                    )
    print(json.dumps({"instances": instances, "keys": keys, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
