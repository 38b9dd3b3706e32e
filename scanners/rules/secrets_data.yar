/*
 * Database dumps and database URLs with passwords, in text and PHP files (SQL dumps, configs).
 */

rule secret_sql_dump
{
    meta:
        severity = "medium"
        message = "Dump basis data SQL (dapat berisi data pribadi atau kata sandi)"
    strings:
        $h1 = "-- MySQL dump" ascii
        $h2 = "-- phpMyAdmin SQL Dump" ascii
        $h3 = "-- MariaDB dump" ascii
        $h4 = "-- PostgreSQL database dump" ascii
        $h5 = "-- Adminer " ascii
        $h6 = "-- Navicat" nocase
        $ins = /INSERT INTO [`"]?\w+[`"]?\s*(\([^)]{1,400}\)\s*)?VALUES/ nocase
    condition:
        (extension == "sql" and (any of ($h*) or #ins > 20)) or for any of ($h*) : ( @ < 1024 )
}

rule secret_db_url_credentials
{
    meta:
        severity = "low"
        message = "URL basis data dengan nama pengguna dan kata sandi"
    strings:
        $u = /(mysql|mysqli|pgsql|postgres|postgresql|mongodb(\+srv)?|redis|amqp|mssql|sqlsrv):\/\/[A-Za-z0-9_.\-]{1,64}:[^@\s\/'"]{3,64}@/
    condition:
        $u
}
