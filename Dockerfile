# Airflow image for the news ingestion pipeline.
#
# Extends the official image as described in
# https://airflow.apache.org/docs/docker-stack/build.html ("Adding requirements.txt"):
# Python packages are installed with pip as the `airflow` user, never as root.
# dags/, plugins/ and include/ are not baked in: docker-compose.yaml mounts them.
#
# Keep the tag's Airflow version equal to the apache-airflow pin in requirements.txt
# (tests/unit/test_compose.py checks this; the install below also fails on a mismatch).
FROM apache/airflow:3.3.2-python3.11

USER airflow

COPY requirements.txt constraints.txt /

# "apache-airflow==${AIRFLOW_VERSION}" (AIRFLOW_VERSION is set by the base image) keeps pip
# from up- or downgrading the Airflow that ships in the image.
RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /requirements.txt \
        -c /constraints.txt
